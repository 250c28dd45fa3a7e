"""Decoder pairs (physgen.train.decoder_pairs) and the decoder fine-tune that reads them, on the tiny model."""

import numpy as np
import pytest
import torch

from physgen import IMAGE_SIZE
from physgen.errors import InputError
from physgen.train.decoder_pairs import ONE_STEP, OPEN_LOOP, DecoderPairs, episode_pairs
from physgen.train.tokenizer import TokenizerTrainConfig, train_tokenizer


def episode(chunk: int, steps: int = 4):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (steps + 1, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    masks = np.zeros(frames.shape[:3], bool)
    masks[:, 60:68, 60:68] = True
    actions = rng.uniform(-1, 1, (steps * chunk, 7)).astype(np.float32)
    return frames, masks, actions


@pytest.fixture
def tiny(make_tiny_model):
    return make_tiny_model(chunk=4)


def test_one_pair_per_boundary_in_each_mode_targets_the_real_frame_there(tiny):
    model, tokenizer = tiny
    frames, masks, actions = episode(model.config.chunk)
    pairs = episode_pairs(model, tokenizer, frames, masks, actions, open_loop=3)
    one_step, open_loop = pairs.kind == ONE_STEP, pairs.kind == OPEN_LOOP
    # 4 one-step pairs (boundaries 1..4); the open loop adds chunks 2 and 3 (its chunk 1 is a one-step pair)
    assert one_step.sum() == 4 and open_loop.sum() == 2
    np.testing.assert_array_equal(pairs.frames[one_step], frames[1:])
    np.testing.assert_array_equal(pairs.frames[open_loop], frames[2:4])
    assert pairs.horizon[open_loop].tolist() == [2, 3] and set(pairs.horizon[one_step]) == {1}
    cfg = tokenizer.config
    assert pairs.latents.shape == (6, cfg.latent_channels, cfg.latent_size, cfg.latent_size) and pairs.latents.dtype == np.float16


def test_pairs_survive_a_save_and_load(tiny, tmp_path):
    model, tokenizer = tiny
    pairs = episode_pairs(model, tokenizer, *episode(model.config.chunk, steps=2), open_loop=2)
    pairs.save(tmp_path / "pairs.npz")
    loaded = DecoderPairs.load(tmp_path / "pairs.npz")
    for name in ("latents", "frames", "masks", "kind", "horizon"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(pairs, name))


def test_an_episode_shorter_than_a_chunk_is_refused(tiny):
    model, tokenizer = tiny
    frames, masks, actions = episode(model.config.chunk)
    with pytest.raises(InputError, match="at least one chunk"):
        episode_pairs(model, tokenizer, frames, masks, actions[:2])


def test_decoder_fine_tune_on_pairs_keeps_the_encoder_and_scores_the_pairs(tiny, tmp_path):
    model, tokenizer = tiny
    frames, masks, actions = episode(model.config.chunk)
    pairs = episode_pairs(model, tokenizer, frames, masks, actions, open_loop=2)
    tokenizer.save_pretrained(tmp_path / "init")
    encoder_before = {k: v.clone() for k, v in tokenizer.vae.encoder.state_dict().items()}
    config = TokenizerTrainConfig(minutes=5, max_steps=3, batch_size=4, eval_every=3, decoder_only=True, pair_fraction=0.5)
    metrics = train_tokenizer(frames, masks, frames[:2], masks[:2], tmp_path / "run", config, init=tmp_path / "init", pairs=pairs,
                              val_pairs=pairs, log=lambda *_: None)
    assert metrics["step"] == 3 and metrics["val_pairs"] == len(pairs) and np.isfinite(metrics["pair_psnr"])
    from physgen.model.tokenizer import FrameTokenizer

    trained = FrameTokenizer.from_pretrained(tmp_path / "run" / "last")
    for key, value in trained.vae.encoder.state_dict().items():
        torch.testing.assert_close(value, encoder_before[key])
    decoder_moved = any(not torch.equal(a, b) for a, b in zip(trained.vae.decoder.parameters(), tokenizer.vae.decoder.parameters()))
    assert decoder_moved


@pytest.mark.parametrize(("cpu_bf16", "cpu_has_amx", "expect_bf16"),
                         [(False, True, False), (True, True, True), (None, True, True), (None, False, False)])
def test_cpu_bf16_fine_tunes_the_decoder_under_bf16_autocast_by_default_only_where_the_cpu_has_amx(tiny, tmp_path, monkeypatch, cpu_bf16,
                                                                                                   cpu_has_amx, expect_bf16):
    from physgen.model.tokenizer import FrameTokenizer
    from physgen.train import tokenizer as tokenizer_trainer

    monkeypatch.setattr(tokenizer_trainer, "cpu_has_native_bf16", lambda: cpu_has_amx)

    model, tokenizer = tiny
    frames, masks, actions = episode(model.config.chunk)
    pairs = episode_pairs(model, tokenizer, frames, masks, actions, open_loop=2)
    tokenizer.save_pretrained(tmp_path / "init")
    in_bf16, decode_float = [], FrameTokenizer.decode_float

    def spy(self, z, fast=False):
        in_bf16.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return decode_float(self, z, fast)

    monkeypatch.setattr(FrameTokenizer, "decode_float", spy)
    config = TokenizerTrainConfig(minutes=5, max_steps=2, batch_size=4, eval_every=10, decoder_only=True, pair_fraction=0.5, cpu_bf16=cpu_bf16)
    metrics = train_tokenizer(frames, masks, frames[:2], masks[:2], tmp_path / "run", config, init=tmp_path / "init", pairs=pairs,
                              log=lambda *_: None)
    assert metrics["step"] == 2 and np.isfinite(metrics["psnr"])
    assert in_bf16[:2] == [expect_bf16, expect_bf16]  # the two training steps
    assert not any(in_bf16[2:])  # the final evaluation decodes in fp32


def test_pairs_need_a_decoder_only_run(tiny, tmp_path):
    model, tokenizer = tiny
    frames, masks, actions = episode(model.config.chunk, steps=2)
    pairs = episode_pairs(model, tokenizer, frames, masks, actions, open_loop=1)
    with pytest.raises(InputError, match="decoder alone"):
        train_tokenizer(frames, masks, frames, masks, tmp_path / "run", TokenizerTrainConfig(max_steps=1), pairs=pairs, log=lambda *_: None)


def test_pair_fraction_outside_zero_to_one_is_refused():
    with pytest.raises(InputError, match="pair_fraction"):
        TokenizerTrainConfig(pair_fraction=1.5)
