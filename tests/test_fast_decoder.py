"""The tokenizer's fast decoder (physgen.model.fast_decoder) and its training, on tiny tokenizers."""

import numpy as np
import pytest
import torch

from physgen import IMAGE_SIZE
from physgen.errors import InputError
from physgen.model.fast_decoder import FastDecoder
from physgen.model.tokenizer import FrameTokenizer, TokenizerConfig
from physgen.train.tokenizer import TokenizerTrainConfig, train_tokenizer

WIDTHS = (16, 16, 16, 16)


def tokenizer() -> FrameTokenizer:
    torch.manual_seed(0)
    return FrameTokenizer(TokenizerConfig(block_out_channels=WIDTHS, latent_channels=4, patch=4)).eval()


def latents(tok: FrameTokenizer) -> torch.Tensor:
    cfg = tok.config
    return torch.randn(2, cfg.latent_channels, cfg.latent_size, cfg.latent_size, generator=torch.Generator().manual_seed(0))


def test_a_fast_decoder_of_the_vae_widths_starts_as_the_vae_decoder():
    tok = tokenizer()
    tok.fast_decoder = FastDecoder.from_vae(tok.vae, block_out_channels=WIDTHS).eval()
    z = latents(tok)
    torch.testing.assert_close(tok.decode(z, fast=True), tok.decode(z))


def test_a_thinner_fast_decoder_keeps_the_teachers_low_resolution_layers_and_the_image_shape():
    tok = tokenizer()
    fast = FastDecoder.from_vae(tok.vae, block_out_channels=(16, 16, 32, 16)).eval()
    torch.testing.assert_close(fast.decoder.conv_in.weight, tok.vae.decoder.conv_in.weight)
    torch.testing.assert_close(fast.decoder.mid_block.resnets[0].conv1.weight, tok.vae.decoder.mid_block.resnets[0].conv1.weight)
    tok.fast_decoder = fast
    images = tok.decode(latents(tok), fast=True)
    assert images.shape == (2, 3, IMAGE_SIZE, IMAGE_SIZE) and images.dtype == torch.uint8


def test_the_fast_decoder_survives_a_save_and_load(tmp_path):
    tok = tokenizer()
    tok.fast_decoder = FastDecoder.from_vae(tok.vae, block_out_channels=(16, 16, 32, 16)).eval()
    tok.save_pretrained(tmp_path / "tok")
    tokenizer().save_pretrained(tmp_path / "plain")
    loaded = FrameTokenizer.from_pretrained(tmp_path / "tok")
    assert loaded.has_fast_decoder and not FrameTokenizer.from_pretrained(tmp_path / "plain").has_fast_decoder
    z = latents(tok)
    torch.testing.assert_close(loaded.decode(z, fast=True), tok.decode(z, fast=True))


def test_decoding_fast_without_a_fast_decoder_says_how_to_get_one():
    tok = tokenizer()
    with pytest.raises(InputError, match="no fast decoder"):
        tok.decode(latents(tok), fast=True)


@pytest.mark.parametrize("bad", [dict(block_out_channels=(16, 24, 32, 64)), dict(block_out_channels=(16, 32))])
def test_bad_fast_decoder_widths_are_refused(bad):
    with pytest.raises(InputError):
        FastDecoder.from_vae(tokenizer().vae, **bad)


def test_training_the_fast_decoder_moves_it_alone(tmp_path):
    tok = tokenizer()
    tok.save_pretrained(tmp_path / "init")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (4, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    masks = np.zeros(frames.shape[:3], bool)
    config = TokenizerTrainConfig(minutes=5, max_steps=2, batch_size=2, eval_every=2, decoder_only=True, fast_decoder=True,
                                  fast_decoder_channels=(16, 16, 32, 16))
    metrics = train_tokenizer(frames, masks, frames[:2], masks[:2], tmp_path / "run", config, init=tmp_path / "init", log=lambda *_: None)
    assert metrics["step"] == 2 and np.isfinite(metrics["psnr"])
    trained = FrameTokenizer.from_pretrained(tmp_path / "run" / "last")
    for (name, value), before in zip(trained.vae.state_dict().items(), tok.vae.state_dict().values()):
        torch.testing.assert_close(value, before, msg=name)
    start = FastDecoder.from_vae(tok.vae, block_out_channels=(16, 16, 32, 16))
    assert any(not torch.equal(a, b) for a, b in zip(trained.fast_decoder.parameters(), start.parameters()))


def test_a_fast_decoder_run_must_train_the_decoder_alone():
    with pytest.raises(InputError, match="decoder_only"):
        TokenizerTrainConfig(fast_decoder=True)


def test_a_world_model_env_shows_the_fast_decoders_frames_unless_told_otherwise(make_tiny_model):
    from physgen.model.world_env import WorldModelEnv

    model, tok = make_tiny_model()
    tok.fast_decoder = FastDecoder.from_vae(tok.vae, block_out_channels=(16, 16, 32, 16)).eval()
    frame = np.random.default_rng(0).integers(0, 255, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    latent = tok.encode(torch.from_numpy(frame).permute(2, 0, 1)[None])
    shown = {fast: tok.decode(latent, fast=fast)[0].permute(1, 2, 0).numpy() for fast in (True, False)}
    assert not np.array_equal(shown[True], shown[False])
    for fast_decode, fast in ((None, True), (True, True), (False, False)):
        np.testing.assert_array_equal(WorldModelEnv(model, tok, fast_decode=fast_decode).reconstruct(frame), shown[fast])
