"""The benchmark's JSON, on a tiny saved checkpoint (and on real held-out episodes, marked)."""

import numpy as np
import pytest
import torch

from physgen.bench import run
from physgen.errors import InputError
from physgen.model import PhysGen
from physgen.tokenizer import FrameTokenizer, TokenizerConfig

MODEL = dict(token_dim=64, num_frame_tokens=16, chunk=8, history=3, dim=32, depth=2, heads=2, frame_head_width=32,
             frame_head_depth=1, action_head_width=16, action_head_depth=1, lmtp=2, sample_steps=2)


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    PhysGen(**MODEL).save_pretrained(tmp_path)
    FrameTokenizer(TokenizerConfig(block_out_channels=(16, 16, 16, 16), latent_channels=4, patch=4)).save_pretrained(tmp_path / "tokenizer")
    return tmp_path


def test_speed_figures_and_their_baselines(checkpoint):
    result = run(str(checkpoint), "unused", episodes=1, horizon=4, skip_eval=True, sample_steps=None)
    for key in ("fps_kv", "fps_nokv", "kv_speedup", "fps_kv_decoded", "train_steps_per_s"):
        assert result[key] > 0
    assert result["kv_speedup"] == pytest.approx(result["fps_kv"] / result["fps_nokv"], rel=0.02)
    assert result["psnr_16"] is None


@pytest.mark.sim
@pytest.mark.slow
def test_open_loop_fidelity_against_the_simulator(checkpoint, tmp_path):
    from physgen.demos import generate_demos

    generate_demos("PushCube-v1", 1, tmp_path / "eval", seed_start=10_000, shard_size=1, progress=False, evaluation=True)
    result = run(str(checkpoint), str(tmp_path / "eval"), episodes=1, horizon=2, skip_eval=False, sample_steps=None, scenes=["PushCube-v1"])
    assert result["eval_episodes"] == 1 and result["eval_scenes"] == ["PushCube-v1"]
    assert 5 < result["psnr_copy_last"] < 60 and 5 < result["psnr_16"] < 60
    assert len(result["psnr_by_step"]) == 2


def test_export_writes_a_small_fp16_checkpoint_that_loads(checkpoint, tmp_path):
    from safetensors import safe_open

    from physgen.checkpoint import export_checkpoint, load_checkpoint

    out = tmp_path / "shipped"
    size = export_checkpoint(checkpoint, checkpoint / "tokenizer", out)
    assert size > 0
    with safe_open(out / "diffusion_pytorch_model.safetensors", "pt") as f:
        assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())
    model, tokenizer = load_checkpoint(out)
    assert next(model.parameters()).dtype == torch.float32 and tokenizer.scale > 0


@pytest.mark.sim
def test_closed_loop_policy_reports_success_per_task(checkpoint, sim):
    from physgen.checkpoint import load_checkpoint
    from physgen.evaluate import closed_loop
    from physgen.world_env import WorldModelEnv

    model, tokenizer = load_checkpoint(checkpoint)
    summary = closed_loop(WorldModelEnv(model, tokenizer), sim, scenes=["PushCube-v1"], seeds=[10_000], max_chunks=2)
    assert summary["success_PushCube-v1"] in (0.0, 1.0) and summary["success_rate"] == summary["success_PushCube-v1"]
    assert sim.step(np.zeros(7)).observation.elapsed_steps <= 2 * 8 + 1


def test_closed_loop_refuses_training_seeds(checkpoint, sim):
    from physgen.checkpoint import load_checkpoint
    from physgen.evaluate import closed_loop
    from physgen.world_env import WorldModelEnv

    model, tokenizer = load_checkpoint(checkpoint)
    with pytest.raises(InputError, match="held-out"):
        closed_loop(WorldModelEnv(model, tokenizer), sim, scenes=["PushCube-v1"], seeds=[3], max_chunks=1)


def test_export_sets_the_shipped_sampling_steps_and_rejects_bad_ones(checkpoint, tmp_path):
    from physgen.checkpoint import export_checkpoint, load_checkpoint

    export_checkpoint(checkpoint, checkpoint / "tokenizer", tmp_path / "shipped", sample_steps=5)
    assert load_checkpoint(tmp_path / "shipped")[0].config.sample_steps == 5
    with pytest.raises(InputError, match="sample_steps"):
        export_checkpoint(checkpoint, checkpoint / "tokenizer", tmp_path / "bad", sample_steps=0)
