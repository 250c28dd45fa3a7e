"""The PhysGen model with tiny seeded configs (seconds each)."""

import json

import pytest
import torch

from physgen.errors import InputError
from physgen.model.rollout import Rollout
from physgen.model.transformer import ACTION, FRAME, TokenLayout, physical_mask
from physgen.model.world_model import PhysGen

TINY = dict(token_dim=8, num_frame_tokens=4, chunk=3, history=3, dim=32, depth=2, heads=2, frame_head_width=32,
            frame_head_depth=1, action_head_width=16, action_head_depth=1, lmtp=3, sample_steps=3)
K, L, D = 4, 3, 8


def tiny_model(**overrides) -> PhysGen:
    torch.manual_seed(0)
    return PhysGen(**{**TINY, **overrides})


def window(b=2, h=4, lmtp=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        frame_tokens=torch.randn(b, h, K, D, generator=g),
        frame_valid=torch.ones(b, h, dtype=torch.bool),
        actions=torch.rand(b, h + lmtp, L, 7, generator=g) * 2 - 1,
        action_valid=torch.ones(b, h + lmtp, dtype=torch.bool),
        boa=torch.tensor([True] + [False] * (b - 1)),
    )


def test_losses_are_finite_scalars():
    losses = tiny_model().loss(**window())
    assert set(losses) == {"frame", "action", "total"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())


def test_video_stage_has_only_a_frame_loss():
    batch = window()
    losses = tiny_model().loss(batch["frame_tokens"], batch["frame_valid"])
    assert set(losses) == {"frame", "total"}


def test_sampling_shapes():
    model = tiny_model().eval()
    rollout = Rollout(model)
    rollout.start(torch.randn(2, K, D))
    frame = rollout.predict_frame(torch.zeros(2, L, 7))
    assert frame.shape == (2, K, D)
    block = rollout.propose_actions(frame)
    assert block.shape == (2, 3, L, 7) and block.abs().max() <= 1


def test_mask_rules():
    layout = TokenLayout.for_steps(0, 2, 2, 2)  # steps of [F F A A]
    mask = physical_mask(layout, layout)
    frame0, action0, frame1 = [0, 1], [2, 3], [4, 5]
    assert mask[0, 1] and mask[1, 0], "frame tokens attend within their frame"
    assert not mask[0, 2], "frame tokens do not see their own step's actions"
    assert mask[2, 0] and mask[3, 1], "actions see their step's frame (implicit IK)"
    assert mask[3, 2] and not mask[2, 3], "actions are causal within the chunk"
    assert mask[frame1[0], action0[1]] and not mask[frame0[0], frame1[0]], "steps are causal"
    assert layout.kind.tolist() == [FRAME, FRAME, ACTION, ACTION] * 2


def test_mask_window_limits_history():
    layout = TokenLayout.for_steps(0, 4, 1, 0)
    mask = physical_mask(layout, layout, window=2)
    assert mask[3].tolist() == [False, False, True, True]


def backbone_outputs(model, batch):
    frame_emb = model.embed_frames(batch["frame_tokens"])
    boa = torch.zeros(batch["frame_tokens"].shape[:2], dtype=torch.bool)
    action_emb = model.embed_actions(batch["actions"][:, : batch["frame_tokens"].shape[1]], boa)
    h = batch["frame_tokens"].shape[1]
    out = model.backbone(model.sequence(frame_emb, action_emb), TokenLayout.for_steps(0, h, K, L))
    return out.view(out.shape[0], h, K + L, -1)


def test_future_tokens_never_change_earlier_outputs():
    model = tiny_model().eval()
    batch = window()
    before = backbone_outputs(model, batch)
    batch["frame_tokens"][:, 2] += 5.0
    batch["actions"][:, 3] = -batch["actions"][:, 3]
    after = backbone_outputs(model, batch)
    torch.testing.assert_close(before[:, :2], after[:, :2])
    assert not torch.allclose(before[:, 2, :K], after[:, 2, :K])


def test_actions_see_their_frame_but_frames_not_their_actions():
    model = tiny_model().eval()
    batch = window()
    base = backbone_outputs(model, batch)
    changed_frame = {**batch, "frame_tokens": batch["frame_tokens"].clone()}
    changed_frame["frame_tokens"][:, 1] += 3.0
    out = backbone_outputs(model, changed_frame)
    assert not torch.allclose(base[:, 1, K:], out[:, 1, K:]), "actions of step 1 must see frame 1"
    changed_action = {**batch, "actions": batch["actions"].clone()}
    changed_action["actions"][:, 1] = -changed_action["actions"][:, 1]
    out = backbone_outputs(model, changed_action)
    torch.testing.assert_close(base[:, 1, :K], out[:, 1, :K])


@pytest.mark.parametrize("overrides", [{}, dict(context_noise=0.3, context_noise_infer=0.1), dict(cfg_scale=2.0),
                                       dict(frame_head_type="joint", cfg_scale=2.0),
                                       dict(frame_head_type="joint", cfg_scale=2.0, frame_rounds=3)])
def test_cached_rollout_matches_recompute(overrides):
    model = tiny_model(**overrides).eval()
    g = torch.Generator().manual_seed(1)
    frames = torch.randn(9, 1, K, D, generator=g)
    actions = torch.rand(9, 1, L, 7, generator=g) * 2 - 1
    results = []
    for use_cache in (True, False):
        rollout = Rollout(model, use_cache=use_cache)
        rollout.start(frames[0])
        outputs = []
        for i in range(1, 9):
            rollout.observe(frames[i], actions[i])
            outputs.append(rollout.h_frame)
        frame = rollout.predict_frame(actions[0], generator=torch.Generator().manual_seed(0))
        block = rollout.propose_actions(frame, generator=torch.Generator().manual_seed(0))
        results.append((torch.stack(outputs), frame, block))
    for cached, recomputed in zip(*results):
        torch.testing.assert_close(cached, recomputed, atol=1e-4, rtol=1e-4)


def test_kv_cache_is_trimmed_to_the_window():
    model = tiny_model().eval()
    rollout = Rollout(model)
    rollout.start(torch.randn(1, K, D))
    for _ in range(6):
        rollout.observe(torch.randn(1, K, D), torch.zeros(1, L, 7))
    steps = rollout.caches[0].layout.step.unique()
    assert len(steps) == model.config.history - 1


def test_save_load_round_trip(tmp_path):
    model = tiny_model().eval()
    model.save_pretrained(tmp_path)
    loaded = PhysGen.from_pretrained(tmp_path).eval()
    batch = window()
    torch.manual_seed(3)
    a = model.loss(**batch)["total"]
    torch.manual_seed(3)
    b = loaded.loss(**batch)["total"]
    torch.testing.assert_close(a, b)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").exists()


def test_training_steps_lower_the_loss_on_a_fixed_batch():
    model = tiny_model()
    batch = window(b=4)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def fixed_loss():
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return model.loss(**batch)["total"]

    start = fixed_loss().item()
    for _ in range(40):
        loss = model.loss(**batch)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert fixed_loss().item() < 0.8 * start


@pytest.mark.parametrize("scheduler", ["ddpm", "ddim", "flow"])
def test_every_scheduler_trains_and_samples(scheduler):
    model = tiny_model(scheduler=scheduler)
    assert torch.isfinite(model.loss(**window())["total"])
    rollout = Rollout(model.eval())
    rollout.start(torch.randn(1, K, D))
    assert torch.isfinite(rollout.predict_frame(None)).all()


def test_lmtp_off_predicts_one_chunk():
    model = tiny_model(lmtp=1)
    assert torch.isfinite(model.loss(**window(lmtp=1))["total"])
    rollout = Rollout(model.eval())
    rollout.start(torch.randn(1, K, D))
    assert rollout.propose_actions(torch.randn(1, K, D)).shape == (1, 1, L, 7)


def test_discrete_actions_ablation_learns_bins_and_samples_on_the_grid():
    model = tiny_model(action_tokens="discrete", action_bins=11)
    batch = window(b=4)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    start = model.loss(**batch)["action"].item()
    for _ in range(80):
        loss = model.loss(**batch)["action"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.loss(**batch)["action"].item() < 0.8 * start
    rollout = Rollout(model.eval())
    rollout.start(torch.randn(1, K, D))
    block = rollout.propose_actions(torch.randn(1, K, D))
    assert block.shape == (1, 3, L, 7)
    grid = (block + 1) / 2 * 10
    torch.testing.assert_close(grid, grid.round())


def test_bad_config_is_rejected():
    with pytest.raises(InputError, match="scheduler"):
        PhysGen(**{**TINY, "scheduler": "euler"})
    with pytest.raises(InputError, match="divisible"):
        PhysGen(**{**TINY, "dim": 33})
    with pytest.raises(InputError, match="action_tokens"):
        PhysGen(**{**TINY, "action_tokens": "tokens"})


def test_lora_trains_only_adapters_and_merges():
    from peft import LoraConfig, get_peft_model

    from physgen.train.world_model import LORA_TARGETS

    model = tiny_model()
    model.backbone = get_peft_model(model.backbone, LoraConfig(r=4, lora_alpha=4, target_modules=LORA_TARGETS))
    trainable = {n for n, p in model.backbone.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert torch.isfinite(model.loss(**window())["total"])
    model.backbone = model.backbone.merge_and_unload()
    assert not any("lora_" in n for n, _ in model.named_parameters())


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path):
    from physgen.model.checkpoint import load_checkpoint

    tiny_model().save_pretrained(tmp_path)
    (tmp_path / "diffusion_pytorch_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="could not load checkpoint"):
        load_checkpoint(tmp_path)


def test_config_mismatch_gives_a_clear_error(tmp_path):
    from physgen.model.checkpoint import load_checkpoint
    from physgen.model.tokenizer import FrameTokenizer, TokenizerConfig

    tiny_model().save_pretrained(tmp_path)
    FrameTokenizer(TokenizerConfig(image_size=32, block_out_channels=(16, 16), latent_channels=4, patch=4)).save_pretrained(tmp_path / "tokenizer")
    with pytest.raises(InputError, match="tokenizer gives"):
        load_checkpoint(tmp_path)


def test_missing_or_offline_checkpoint_gives_a_clear_error(tmp_path, monkeypatch):
    from physgen.model.checkpoint import load_checkpoint

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="not in the local cache"):
        load_checkpoint("nobody/no-such-physgen")
    with pytest.raises(InputError, match="config.json"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "PhysGen", "scheduler": "nope"}))
    with pytest.raises(InputError):
        load_checkpoint(tmp_path)


def test_two_rollouts_on_one_model_do_not_share_state():
    model = tiny_model().eval()
    g = torch.Generator().manual_seed(2)
    frames_a, frames_b = torch.randn(4, 1, K, D, generator=g), torch.randn(4, 1, K, D, generator=g)
    act = torch.zeros(1, L, 7)

    def alone(frames):
        r = Rollout(model)
        r.start(frames[0])
        for f in frames[1:]:
            r.observe(f, act)
        return r.h_frame

    a, b = Rollout(model), Rollout(model)
    a.start(frames_a[0])
    b.start(frames_b[0])
    for fa, fb in zip(frames_a[1:], frames_b[1:]):
        a.observe(fa, act)
        b.observe(fb, act)
    torch.testing.assert_close(a.h_frame, alone(frames_a))
    torch.testing.assert_close(b.h_frame, alone(frames_b))


def test_residual_target_is_the_scaled_change_and_sampling_adds_it_back():
    model = tiny_model(frame_target="residual", residual_scale=4.0)
    previous, following = torch.randn(2, K, D), torch.randn(2, K, D)
    target = model.frame_target_of(previous, following)
    torch.testing.assert_close(target, (following - previous) * 4.0)
    torch.testing.assert_close(model.frame_from_target(previous, target), following)
    absolute = tiny_model(frame_target="absolute")
    torch.testing.assert_close(absolute.frame_target_of(previous, following), following)


@pytest.mark.parametrize("frame_head", ["token", "joint"])
def test_residual_sampling_starts_from_the_previous_frame(frame_head):
    """A head that outputs 'no change' in velocity terms (flow: target = noise - x0 with x0 = 0)
    leaves every token where it was: the static background cannot drift."""
    model = tiny_model(frame_target="residual", frame_head_type=frame_head).eval()

    class ZeroChange(torch.nn.Module):
        def forward(self, x_t, t, z):
            sigma = (t / 1000).clamp_min(1e-3).view(-1, *[1] * (x_t.dim() - 1))
            return x_t / sigma  # v = x_t / sigma exactly when x0 = 0

    model.frame_head = ZeroChange()
    previous = torch.randn(1, K, D)
    z = torch.zeros(1, K, TINY["dim"])
    out = model.sample_frame(z, previous, steps=8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, previous, atol=1e-3, rtol=0)


def test_context_noise_changes_training_inputs_only():
    model = tiny_model(context_noise=0.5)
    batch = window()
    tokens = batch["frame_tokens"]
    noisy, level = model.train().noisy_context(tokens)
    assert level.shape == tokens.shape[:2] and (level >= 0).all() and (level <= 0.5).all()
    assert not torch.equal(noisy, tokens)
    clean, none = model.eval().noisy_context(tokens)
    assert clean is tokens and none is None
    assert tiny_model().noise_level_in is None  # off: no new weights, old checkpoints load


@pytest.mark.parametrize("frame_head", ["token", "joint"])
def test_guidance_scale_one_equals_plain_conditional_sampling_and_other_scales_differ(frame_head):
    model = tiny_model(frame_head_type=frame_head).eval()
    z, z_null, previous = torch.randn(1, K, TINY["dim"]), torch.randn(1, K, TINY["dim"]), torch.randn(1, K, D)
    plain = model.sample_frame(z, previous, generator=torch.Generator().manual_seed(0))
    same = model.sample_frame(z, previous, generator=torch.Generator().manual_seed(0), z_uncond=z_null)
    torch.testing.assert_close(plain, same)
    guided = tiny_model(cfg_scale=3.0, frame_head_type=frame_head).eval()
    guided.load_state_dict(model.state_dict())
    assert not torch.allclose(guided.sample_frame(z, previous, generator=torch.Generator().manual_seed(0), z_uncond=z_null), plain)


def test_guidance_outside_its_interval_is_plain_conditional_sampling_and_inside_it_is_full_guidance():
    """sample_steps=2 samples at t = 1000 and 1 (flow): an interval holding neither step is the
    unguided sampler, one holding both is guidance at every step, one holding only the first differs from both."""
    z, z_null, previous = torch.randn(1, K, TINY["dim"]), torch.randn(1, K, TINY["dim"]), torch.randn(1, K, D)

    def sample(**overrides):
        model = tiny_model(**{"cfg_scale": 3.0, "frame_head_type": "joint", "scheduler": "flow", **overrides}).eval()
        weights = torch.Generator().manual_seed(1)
        for p in model.frame_head.parameters():  # AdaLN gates start at zero: give the condition weight
            p.data.normal_(0, 0.2, generator=weights)
        return model.sample_frame(z, previous, steps=2, generator=torch.Generator().manual_seed(0), z_uncond=z_null)

    unguided, everywhere = sample(cfg_scale=1.0), sample()
    torch.testing.assert_close(sample(cfg_interval=(0.4, 0.6)), unguided)
    torch.testing.assert_close(sample(cfg_interval=(0.0, 1.0)), everywhere)
    first_only = sample(cfg_interval=(0.5, 1.0))
    assert not torch.allclose(first_only, unguided) and not torch.allclose(first_only, everywhere)


def test_frame_temperature_zero_samples_the_same_frame_from_any_noise_and_one_is_the_default():
    z, previous = torch.randn(1, K, TINY["dim"]), torch.randn(1, K, D)

    def sample(seed, **overrides):
        model = tiny_model(**{"frame_head_type": "joint", "scheduler": "flow", **overrides}).eval()
        weights = torch.Generator().manual_seed(1)
        for p in model.frame_head.parameters():  # AdaLN gates start at zero: give the head weight
            p.data.normal_(0, 0.2, generator=weights)
        return model.sample_frame(z, previous, steps=2, generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(sample(0, frame_temperature=0.0), sample(1, frame_temperature=0.0))
    torch.testing.assert_close(sample(0, frame_temperature=1.0), sample(0))
    assert not torch.allclose(sample(0, frame_temperature=0.5), sample(0))


def test_new_options_are_validated():
    for bad in (dict(frame_target="delta"), dict(residual_scale=0.0), dict(context_noise=-1.0),
                dict(context_noise_infer=0.1), dict(cfg_scale=-1.0), dict(frame_head_type="mar"),
                dict(cfg_interval=(0.8, 0.2)), dict(cfg_interval=(0.0, 1.5)), dict(frame_temperature=-0.1),
                dict(frame_temperature=3.0), dict(action_temperature=-0.5), dict(action_temperature=2.5),
                dict(frame_rounds=0, frame_head_type="joint"), dict(frame_rounds=K + 1, frame_head_type="joint"),
                dict(frame_rounds=2, frame_head_type="token")):
        with pytest.raises(InputError):
            tiny_model(**bad)


def test_frame_rounds_partition_each_frame_in_its_own_random_order_on_the_cosine_schedule():
    model = tiny_model(num_frame_tokens=64, frame_head_type="joint", frame_rounds=4)
    masks = torch.stack(model.round_masks(2, 64, torch.Generator().manual_seed(0)))  # (R, B, K, 1)
    assert (masks.sum(0) == 1).all()  # every token is chosen in exactly one round
    assert masks[:, 0].sum((1, 2)).tolist() == [5, 14, 21, 24]  # 64 - 64 cos(pi/2 r/4), few tokens first
    assert not torch.equal(masks[:, 0], masks[:, 1])  # each frame draws its own order
    one = tiny_model(frame_head_type="joint").round_masks(2, K)
    assert len(one) == 1 and one[0].all()


@pytest.mark.parametrize("scheduler", ["flow", "ddim"])
def test_inpainted_tokens_come_out_as_given_and_steer_the_others(scheduler):
    """The joint head sees the given tokens at each step's noise level, so changing them changes
    the tokens it samples; the given ones end exactly as given."""
    model = tiny_model(frame_head_type="joint", scheduler=scheduler).eval()
    for p in model.frame_head.parameters():  # AdaLN gates start at zero: give them weight
        torch.nn.init.normal_(p, std=0.2)
    z = torch.randn(1, K, TINY["dim"])
    mask = torch.tensor([True, True, False, False])[None, :, None]  # (1, K, 1)

    def sample(known):
        return model.diffusion.sample(lambda x, t: model.frame_head(x, t, z), (1, K, D), 3, torch.Generator().manual_seed(0),
                                      known=known, known_mask=mask)

    given, other = torch.randn(1, K, D), torch.randn(1, K, D)
    out = sample(given)
    torch.testing.assert_close(out[:, :2], given[:, :2])
    assert not torch.allclose(out[:, 2:], sample(other)[:, 2:])


def test_several_frame_rounds_sample_a_different_frame_of_the_same_shape():
    z, previous = torch.randn(2, K, TINY["dim"]), torch.randn(2, K, D)

    def sample(rounds):
        model = tiny_model(frame_head_type="joint", frame_rounds=rounds).eval()
        for p in model.frame_head.parameters():
            torch.nn.init.normal_(p, std=0.2)
        return model.sample_frame(z, previous, generator=torch.Generator().manual_seed(0))

    one, three = sample(1), sample(3)
    assert three.shape == one.shape and torch.isfinite(three).all()
    assert not torch.allclose(one, three)


def test_joint_head_denoises_tokens_together_and_the_token_head_does_not():
    """Changing one token's noisy input moves the joint head's prediction for the other tokens
    (they are sampled together), and leaves the per-token head's predictions for them as they were."""
    for frame_head, coupled in (("joint", True), ("token", False)):
        model = tiny_model(frame_head_type=frame_head).eval()
        for p in model.frame_head.parameters():  # AdaLN gates start at zero: give them weight
            torch.nn.init.normal_(p, std=0.2)
        x, z, t = torch.randn(1, K, D), torch.randn(1, K, TINY["dim"]), torch.full((1,), 500.0)
        moved = x.clone()
        moved[0, 0] += 1.0

        def predict(x_t):
            return model.frame_head(x_t, t, z) if coupled else model.frame_head(x_t[0], t.repeat(K), z[0])[None]

        with torch.no_grad():
            others_changed = not torch.allclose(predict(x)[0, 1:], predict(moved)[0, 1:])
        assert others_changed is coupled, frame_head


def test_joint_head_trains_on_whole_frames():
    model = tiny_model(frame_head_type="joint")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = window()
    torch.manual_seed(0)
    first = model.loss(**batch)["frame"].item()
    for _ in range(30):
        loss = model.loss(**batch)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.manual_seed(0)
    assert model.loss(**batch)["frame"].item() < first


def test_play_windows_train_frames_but_not_the_policy_head():
    model, batch = tiny_model(), window()
    torch.manual_seed(0)
    demo = model.loss(**batch)
    torch.manual_seed(0)
    play = model.loss(**batch, imitate=torch.tensor([False, False]))
    assert torch.equal(play["frame"], demo["frame"])  # same frame loss with the same noise
    assert play["action"] == 0 and demo["action"] > 0
    play["total"].backward()
    assert all(p.grad is None or not p.grad.any() for p in model.action_head.parameters())


def test_play_windows_keep_their_action_condition_so_the_action_free_future_is_the_demos(monkeypatch):
    model, batch = tiny_model(action_cond_dropout=1.0, action_cond_dropout_play=0.0), window()
    seen = []
    condition = model.frame_condition
    monkeypatch.setattr(model, "frame_condition", lambda *args: seen.append(args[3]) or condition(*args))
    model.loss(**batch, imitate=torch.tensor([True, False]))
    use_next = seen[0]  # (B, H-1): whether each step's frame saw its next chunk
    valid = batch["action_valid"][:, 1 : use_next.shape[1] + 1]
    assert not use_next[0].any() and torch.equal(use_next[1], valid[1])


def test_actions_are_diffused_in_units_of_the_action_scale():
    raw = tiny_model()
    scaled = tiny_model(action_scale=[0.5] * 7)
    scaled.load_state_dict(raw.state_dict())
    h_frame = torch.randn(1, K, raw.config.dim, generator=torch.Generator().manual_seed(0))
    a = raw.sample_actions(h_frame, generator=torch.Generator().manual_seed(1))
    b = scaled.sample_actions(h_frame, generator=torch.Generator().manual_seed(1))
    # The same head output x: a = clamp(x, -1, 1), b = clamp(0.5 x, -1, 1), so both agree on [-0.5, 0.5].
    torch.testing.assert_close(b.clamp(-0.5, 0.5), (a * 0.5).clamp(-0.5, 0.5))
    assert not torch.equal(a, b)


def test_action_temperature_zero_proposes_the_same_chunks_from_any_noise_and_one_is_the_default():
    h_frame = torch.randn(1, K, TINY["dim"], generator=torch.Generator().manual_seed(0))

    def propose(seed, **overrides):
        model = tiny_model(**overrides).eval()
        return model.sample_actions(h_frame, steps=2, generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(propose(0, action_temperature=0.0), propose(1, action_temperature=0.0))
    torch.testing.assert_close(propose(0, action_temperature=1.0), propose(0))
    assert not torch.allclose(propose(0, action_temperature=0.5), propose(0))


def test_a_bad_action_scale_is_refused():
    with pytest.raises(InputError, match="action_scale"):
        tiny_model(action_scale=[0.1] * 3)
