"""Self forcing (physgen.model.self_forcing) on tiny seeded models: what the context holds, and
that the loss it feeds reduces to teacher forcing when the context is the real frames."""

import pytest
import torch

from physgen.model.rollout import Rollout
from physgen.model.self_forcing import own_context
from physgen.model.world_model import PhysGen

TINY = dict(token_dim=8, num_frame_tokens=4, chunk=3, history=3, dim=32, depth=2, heads=2, frame_head_width=32,
            frame_head_depth=1, action_head_width=16, action_head_depth=1, lmtp=2, sample_steps=3,
            frame_head_type="joint", frame_target="residual", scheduler="flow", context_noise=0.3, cfg_scale=1.5)
K, L, D = 4, 3, 8


def tiny_model() -> PhysGen:
    torch.manual_seed(0)
    return PhysGen(**TINY).eval()


def window(b=3, h=5, lmtp=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(frame_tokens=torch.randn(b, h, K, D, generator=g), frame_valid=torch.ones(b, h, dtype=torch.bool),
                actions=torch.rand(b, h + lmtp, L, 7, generator=g) * 2 - 1,
                action_valid=torch.ones(b, h + lmtp, dtype=torch.bool), boa=torch.tensor([True] + [False] * (b - 1)))


def context_of(model, w, rows, seed=0):
    return own_context(model, w["frame_tokens"], w["actions"], w["action_valid"], w["boa"], torch.tensor(rows),
                       generator=torch.Generator().manual_seed(seed))


def test_no_selected_row_leaves_the_real_frames():
    w = window()
    assert torch.equal(context_of(tiny_model(), w, [False, False, False]), w["frame_tokens"])


def test_a_selected_row_keeps_its_first_frame_and_replaces_the_middle_ones():
    w = window()
    context = context_of(tiny_model(), w, [False, True, False])
    real = w["frame_tokens"]
    assert torch.equal(context[[0, 2]], real[[0, 2]])  # rows not drawn stay teacher-forced
    assert torch.equal(context[1, 0], real[1, 0])  # the rollout starts from the real frame
    assert torch.equal(context[1, -1], real[1, -1])  # the last frame is only a target
    assert all(not torch.allclose(context[1, n], real[1, n]) for n in range(1, 4))


def test_the_context_is_the_rollout_a_session_would_imagine():
    """An episode-start window's context equals Rollout's open-loop frames under the same actions
    and sampling seed (guided, as the shipped checkpoint samples)."""
    model, w = tiny_model(), window(b=1)
    context = context_of(model, w, [True], seed=7)
    rollout = Rollout(model, use_cache=True)
    rollout.start(w["frame_tokens"][:, 0])
    generator = torch.Generator().manual_seed(7)
    for n in range(1, 4):
        chunk = w["actions"][:, n]  # (1, L, 7), the chunk leading into frame n
        frame = rollout.predict_frame(chunk, None, generator)
        torch.testing.assert_close(context[:, n], frame, atol=1e-5, rtol=1e-4)
        rollout.observe(frame, chunk)


def test_the_real_frames_as_context_give_the_teacher_forced_loss():
    model, w = tiny_model().train(), window()
    torch.manual_seed(3)
    forced = model.loss(**w)
    torch.manual_seed(3)
    fed = model.loss(**w, context=w["frame_tokens"].clone())
    assert all(torch.equal(forced[k], fed[k]) for k in forced)


def test_a_drifted_context_asks_the_head_to_steer_back():
    """With a residual target, the target is the real next frame minus the frame fed, not minus the
    real previous frame: a different loss from teacher forcing."""
    model, w = tiny_model().train(), window()
    drifted = w["frame_tokens"] + 0.5
    drifted[:, 0] = w["frame_tokens"][:, 0]
    torch.manual_seed(3)
    forced = model.loss(**w)
    torch.manual_seed(3)
    fed = model.loss(**w, context=drifted)
    assert not torch.allclose(forced["frame"], fed["frame"])


def test_self_forcing_is_validated():
    from physgen.errors import InputError
    from physgen.train.world_model import TrainConfig

    base = dict(out_dir="unused", tokenizer="unused", token_pack="unused")
    with pytest.raises(InputError, match=r"fraction of windows, in \[0, 1\]"):
        TrainConfig(stage="actions", self_forcing=1.5, **base)
    with pytest.raises(InputError, match="--stage actions"):
        TrainConfig(stage="video", self_forcing=0.5, **base)
