"""Decode precision: fp32, or bf16 under autocast where the CPU has AMX (physgen.model.precision)."""

import pytest
import torch

from physgen.errors import InputError
from physgen.model import precision as precision_module
from physgen.model.precision import resolve_precision
from physgen.model.tokenizer import FrameTokenizer, TokenizerConfig


def test_an_unknown_precision_is_refused_with_the_accepted_values():
    with pytest.raises(InputError, match="auto, fp32, bf16; got 'fp16'"):
        resolve_precision("fp16")


@pytest.mark.parametrize("amx, device, expected", [(True, "cpu", "bf16"), (False, "cpu", "fp32"), (True, "cuda", "fp32")])
def test_auto_is_bf16_only_on_a_cpu_with_amx(monkeypatch, amx, device, expected):
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: amx)
    assert resolve_precision("auto", device) == expected
    assert resolve_precision("fp32", device) == "fp32" and resolve_precision("bf16", device) == "bf16"


def test_bf16_decode_is_close_to_fp32_but_computed_differently():
    torch.manual_seed(0)
    tokenizer = FrameTokenizer(TokenizerConfig(image_size=32, block_out_channels=(16, 16), latent_channels=4, patch=4)).eval()
    latents = torch.randn(2, 4, 16, 16)
    reference = tokenizer.decode_float(latents)
    tokenizer.precision = "bf16"
    in_bf16 = tokenizer.decode_float(latents)
    assert in_bf16.dtype == torch.float32
    assert not torch.equal(in_bf16, reference)  # the bf16 path really ran
    assert (in_bf16 - reference).abs().max() < 0.05 * reference.abs().max()
    assert tokenizer.decode(latents * tokenizer.scale).dtype == torch.uint8


def test_load_checkpoint_sets_the_precision_it_resolved():
    from physgen.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint

    assert load_checkpoint(DEFAULT_CHECKPOINT, precision="fp32")[1].precision == "fp32"
    assert load_checkpoint(DEFAULT_CHECKPOINT, precision="bf16")[1].precision == "bf16"
    with pytest.raises(InputError, match="precision must be one of"):
        load_checkpoint(DEFAULT_CHECKPOINT, precision="half")
