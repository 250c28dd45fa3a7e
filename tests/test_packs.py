"""Compact training packs: what goes in comes back, and windows read from a pack match the h5 path."""

import json

import numpy as np
import pytest
import torch

from physgen.data.dataset import TokenPackWindows, WindowConfig
from physgen.data.episodes import Episode
from physgen.data.latents import tokenizer_id
from physgen.data.packs import dequantize, quantize, read_frame_pack, write_frame_pack, write_token_pack
from physgen.errors import InputError

WINDOWS = WindowConfig(history=3, chunk=4, lookahead=2, start_stride=1)


def test_frame_pack_round_trip_keeps_masks_exactly_and_pixels_within_jpeg_error(tmp_path, rng):
    frames = np.repeat(np.repeat(rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8), 4, 1), 4, 2)  # smooth blocks
    masks = rng.random((5, 64, 64)) > 0.7
    write_frame_pack(frames, masks, tmp_path / "f.npz")
    back, back_masks = read_frame_pack(tmp_path / "f.npz")
    assert back.shape == frames.shape and back.dtype == np.uint8
    np.testing.assert_array_equal(back_masks, masks)
    assert np.abs(back.astype(int) - frames.astype(int)).mean() < 4


def test_quantized_tokens_stay_within_half_a_step(rng):
    tokens = rng.normal(size=(10, 4, 3)).astype(np.float32) * [1.0, 2.0, 0.5]
    codes, offset, step = quantize(tokens)
    assert codes.dtype == np.uint8
    assert np.abs(dequantize(codes, offset, step) - tokens).max() <= step.max() / 2 + 1e-6


def _pack(tmp_path, rng, stride=2, seeds=range(6)):
    episodes = [Episode(f"e{s}.h5", "traj_0", "PushCube-v1", s, 13) for s in seeds]
    all_tokens = {(e.path, e.key): rng.normal(size=(e.num_frames, 2, 3)).astype(np.float32) for e in episodes}
    actions = {(e.path, e.key): rng.uniform(-1, 1, (e.num_frames - 1, 7)).astype(np.float32) for e in episodes}
    kept = {k: v[::stride] for k, v in all_tokens.items()}
    write_token_pack(episodes, kept, actions, tmp_path, stride, "test")
    return episodes, all_tokens, actions


def test_pack_windows_match_the_episode_they_came_from(tmp_path, rng):
    episodes, tokens, actions = _pack(tmp_path, rng)
    data = TokenPackWindows(tmp_path, WINDOWS, "all")
    i = next(j for j, (ep, t0) in enumerate(data.index) if ep == 1 and t0 == 4)
    item = data[i]
    key = (episodes[1].path, episodes[1].key)
    np.testing.assert_allclose(item["frames"].numpy(), tokens[key][[4, 8, 12]], atol=0.05)
    assert item["frame_valid"].tolist() == [True, True, True]
    np.testing.assert_array_equal(item["actions"][1].numpy(), actions[key][4:8])  # the chunk into frame 1
    assert not item["boa"]


def test_pack_windows_start_on_stored_frames_and_flag_the_end(tmp_path, rng):
    _pack(tmp_path, rng)
    data = TokenPackWindows(tmp_path, WINDOWS, "all")
    assert all(t0 % 2 == 0 for _, t0 in data.index)
    last = data[max(range(len(data)), key=lambda j: data.index[j][1])]
    assert not last["frame_valid"][-1]


def test_pack_rejects_a_chunk_that_skips_stored_frames(tmp_path, rng):
    _pack(tmp_path, rng, stride=3)
    with pytest.raises(InputError, match="multiple"):
        TokenPackWindows(tmp_path, WINDOWS, "all")


def test_pack_with_eval_seeds_is_refused(tmp_path, rng):
    _pack(tmp_path, rng, seeds=[1, 10_001])
    with pytest.raises(InputError, match="reserved"):
        TokenPackWindows(tmp_path, WINDOWS, "all")


def test_missing_pack_gives_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="not a token pack"):
        TokenPackWindows(tmp_path, WINDOWS)


def test_tokenizer_id_changes_with_the_config_even_with_the_same_weights(tmp_path):
    from safetensors.torch import save_file

    for name, patch in (("a", 2), ("b", 4)):
        folder = tmp_path / name
        folder.mkdir()
        save_file({"w": torch.ones(3)}, folder / "diffusion_pytorch_model.safetensors")
        (folder / "tokenizer_config.json").write_text(json.dumps({"patch": patch}))
    assert tokenizer_id(tmp_path / "a") != tokenizer_id(tmp_path / "b")


@pytest.mark.parametrize("action_source", ["recorded", "none"])
def test_pack_open_loop_of_a_model_that_changes_nothing_equals_copying_the_first_frame(tmp_path, rng, action_source):
    """The plumbing of the batched open loop: a residual model whose head outputs 'no change'
    imagines the first frame again and again, so its PSNR is copy-first's at every horizon."""
    from physgen.eval.open_loop import pack_open_loop
    from physgen.model.tokenizer import FrameTokenizer, TokenizerConfig
    from physgen.model.world_model import PhysGen

    tokenizer = FrameTokenizer(TokenizerConfig(image_size=16, block_out_channels=(16, 16), latent_channels=4, patch=4)).eval()
    k, d = tokenizer.config.num_tokens, tokenizer.config.token_dim
    episodes = [Episode(f"e{s}.h5", "traj_0", "PushCube-v1", s, 17) for s in range(40)]
    tokens = {(e.path, e.key): rng.normal(size=(e.num_frames, k, d)).astype(np.float32) for e in episodes}
    actions = {(e.path, e.key): rng.uniform(-1, 1, (e.num_frames - 1, 7)).astype(np.float32) for e in episodes}
    write_token_pack(episodes, {key: v[::4] for key, v in tokens.items()}, actions, tmp_path, 4, "test")
    model = PhysGen(token_dim=d, num_frame_tokens=k, chunk=4, history=3, dim=32, depth=1, heads=2, frame_head_width=16,
                    frame_head_depth=1, action_head_width=16, action_head_depth=1, lmtp=1, sample_steps=2,
                    frame_target="residual").eval()

    class NoChange(torch.nn.Module):
        def forward(self, x_t, t, z):
            return x_t / (t / 1000).clamp_min(1e-3).view(-1, *[1] * (x_t.dim() - 1))  # flow velocity of x0 = 0

    model.frame_head = NoChange()
    result = pack_open_loop(model, tokenizer, str(tmp_path), horizon=3, action_source=action_source)
    assert result["episodes"] == len(TokenPackWindows(tmp_path, WindowConfig(history=4, chunk=4, lookahead=1), "val").episodes) > 0
    assert result["psnr_by_step"] == pytest.approx(result["psnr_by_step_copy"], abs=0.05)


def test_pack_open_loop_rejects_an_unknown_action_source(tmp_path, rng):
    from physgen.eval.open_loop import pack_open_loop

    _pack(tmp_path, rng)
    with pytest.raises(InputError, match="action_source"):
        pack_open_loop(None, None, str(tmp_path), action_source="random")


def test_pack_windows_say_which_episodes_are_play(tmp_path, rng):
    episodes = [Episode(f"e{s}.h5", "", "PushCube-v1", s, 9, imitate=s % 2 == 0) for s in range(4)]
    tokens = {(e.path, e.key): rng.normal(size=(5, 2, 3)).astype(np.float32) for e in episodes}
    actions = {(e.path, e.key): rng.uniform(-1, 1, (8, 7)).astype(np.float32) for e in episodes}
    write_token_pack(episodes, tokens, actions, tmp_path, 2, "test")
    data = TokenPackWindows(tmp_path, WINDOWS, "all")
    assert [data.imitates(i) for i in range(4)] == [True, False, True, False]
    assert [bool(data[j]["imitate"]) for j, (ep, t0) in enumerate(data.index) if t0 == 0] == [True, False, True, False]


def test_pack_windows_can_hold_only_demos_or_only_play(tmp_path, rng):
    episodes = [Episode(f"e{s}.h5", "", "PushCube-v1", s, 9, imitate=s < 3) for s in range(5)]
    tokens = {(e.path, e.key): rng.normal(size=(5, 2, 3)).astype(np.float32) for e in episodes}
    actions = {(e.path, e.key): rng.uniform(-1, 1, (8, 7)).astype(np.float32) for e in episodes}
    write_token_pack(episodes, tokens, actions, tmp_path, 2, "test")
    assert [row[3] for row in TokenPackWindows(tmp_path, WINDOWS, "all", "demos").episodes] == [0, 1, 2]
    assert [row[3] for row in TokenPackWindows(tmp_path, WINDOWS, "all", "play").episodes] == [3, 4]
    with pytest.raises(InputError, match="demos"):
        TokenPackWindows(tmp_path, WINDOWS, "all", "experts")


def test_action_scale_is_the_std_of_the_demonstrations_only(tmp_path, rng):
    from physgen.data.packs import action_scale

    episodes = [Episode(f"e{s}.h5", "", "PushCube-v1", s, 9, imitate=s < 2) for s in range(4)]
    tokens = {(e.path, e.key): np.zeros((5, 2, 3), np.float32) for e in episodes}
    demo = rng.normal(0, 0.1, (8, 7)).astype(np.float32)
    demo[:, 3] = 0  # a dimension the demos never move
    actions = {(e.path, e.key): demo if e.imitate else np.ones((8, 7), np.float32) for e in episodes}
    write_token_pack(episodes, tokens, actions, tmp_path, 2, "test")
    scale = action_scale(tmp_path, floor=0.01)
    np.testing.assert_allclose(scale, np.maximum(demo.std(0), 0.01), atol=1e-4)  # play's ones left out
