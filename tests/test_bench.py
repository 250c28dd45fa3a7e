"""The benchmark's JSON, on a tiny saved checkpoint (and on real held-out episodes, marked)."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from physgen import EVAL_SEED_START
from physgen.bench import rollout_fps, run
from physgen.errors import InputError


@pytest.fixture
def checkpoint(tiny_checkpoint):
    return tiny_checkpoint


def test_the_json_describes_the_benched_checkpoint(checkpoint):
    from physgen.model.checkpoint import load_checkpoint

    result = run(str(checkpoint), "unused", episodes=1, horizon=4, skip_eval=True, sample_steps=None)
    model, tokenizer = load_checkpoint(checkpoint)
    cfg = model.config
    assert result["checkpoint"] == str(checkpoint) and "note" not in result
    assert result["params"] == sum(p.numel() for p in model.parameters())
    assert (result["chunk"], result["history"], result["frame_tokens"], result["sample_steps"], result["image_size"]) == (
        cfg.chunk, cfg.history, cfg.num_frame_tokens, cfg.sample_steps, tokenizer.config.image_size)
    speeds = [result[key] for key in ("fps_kv", "fps_nokv", "fps_kv_decoded", "train_steps_per_s")]
    assert all(isinstance(v, float) and math.isfinite(v) for v in speeds)
    assert result["psnr_16"] is None and result["psnr_copy_last"] is None  # skip_eval: no fidelity figures


def test_the_sample_steps_option_is_what_the_speed_is_measured_with(checkpoint):
    assert run(str(checkpoint), "unused", episodes=1, horizon=2, skip_eval=True, sample_steps=3)["sample_steps"] == 3


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_precision_option_is_what_the_bench_loads_and_reports_with_an_fp32_speed_baseline(checkpoint, precision):
    result = run(str(checkpoint), "unused", episodes=1, horizon=2, skip_eval=True, sample_steps=None, precision=precision)
    assert result["precision"] == precision
    baseline = result.get("fps_kv_decoded_fp32")
    if precision == "fp32":
        assert baseline is None  # fps_kv_decoded itself is the fp32 figure
    else:
        assert isinstance(baseline, float) and baseline > 0


def test_measuring_the_training_speed_leaves_the_benched_weights_as_they_were(make_tiny_model):
    from physgen.bench import train_speed

    model, _ = make_tiny_model()
    before = {name: p.detach().clone() for name, p in model.state_dict().items()}
    assert train_speed(model, steps=2, batch=2, window=3) > 0
    assert all(torch.equal(p, before[name]) for name, p in model.state_dict().items())
    assert not model.training


def test_the_kv_baseline_recomputes_the_window_and_the_cached_run_does_not(checkpoint):
    """What kv_speedup compares: the cached rollout feeds the backbone one step per frame, the
    baseline every step that can still influence the output (counted, not timed)."""
    from physgen.model.checkpoint import load_checkpoint

    model, tokenizer = load_checkpoint(checkpoint)
    cfg, backbone = model.config, model.backbone
    fed: list[int] = []
    forward = backbone.forward
    backbone.forward = lambda x, layout, *args, **kwargs: fed.append(len(layout)) or forward(x, layout, *args, **kwargs)
    steps, per_step = 6, cfg.num_frame_tokens + cfg.chunk
    rollout_fps(model, tokenizer, steps, use_cache=True, decode=False, repeats=0)
    assert fed == [per_step] * (1 + steps)  # the first frame, then one step per predicted frame
    fed.clear()
    rollout_fps(model, tokenizer, steps, use_cache=False, decode=False, repeats=0)
    window = backbone.receptive_steps
    assert window < 1 + steps and fed == [min(n, window) * per_step for n in range(1, 2 + steps)]


@pytest.mark.sim
@pytest.mark.slow
def test_open_loop_fidelity_against_the_simulator(checkpoint, tmp_path):
    from physgen.data.demos import generate_demos

    generate_demos("PushCube-v1", 1, tmp_path / "eval", seed_start=EVAL_SEED_START, shard_size=1, progress=False, evaluation=True)
    result = run(str(checkpoint), str(tmp_path / "eval"), episodes=1, horizon=2, skip_eval=False, sample_steps=None, scenes=["PushCube-v1"])
    assert result["eval_episodes"] == 1 and result["eval_scenes"] == ["PushCube-v1"]
    assert 5 < result["psnr_copy_last"] < 60 and 5 < result["psnr_16"] < 60
    assert len(result["psnr_by_step"]) == 2


def test_export_writes_a_small_fp16_checkpoint_that_loads(checkpoint, tmp_path):
    from safetensors import safe_open

    from physgen.model.checkpoint import export_checkpoint, load_checkpoint

    out = tmp_path / "shipped"
    size = export_checkpoint(checkpoint, checkpoint / "tokenizer", out)
    assert size == sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    source_weights = sum(f.stat().st_size for f in checkpoint.rglob("*.safetensors"))
    assert sum(f.stat().st_size for f in out.rglob("*.safetensors")) == pytest.approx(source_weights / 2, rel=0.05)  # fp16
    with safe_open(out / "diffusion_pytorch_model.safetensors", "pt") as f:
        assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())
    model, tokenizer = load_checkpoint(out)
    assert next(model.parameters()).dtype == torch.float32 and tokenizer.scale > 0


class MarkedAtChunk:
    """The simulator, except that an episode of `seed` reports `flag` (success, grasped) from its
    chunk `chunk` on, and other episodes never do: the counting is then known exactly, which an
    untrained policy cannot provide."""

    def __init__(self, sim, seed: int, chunk: int, flag: str = "success"):
        self.sim, self.seed, self.chunk, self.flag, self.chunks = sim, seed, chunk, flag, 0

    def reset(self, scene, seed):
        self.chunks, self.current = 0, seed
        return self.sim.reset(scene, seed)

    def step(self, actions):
        result = self.sim.step(actions)
        self.chunks += 1
        marked = self.current == self.seed and self.chunks >= self.chunk
        return dataclasses.replace(result, observation=dataclasses.replace(result.observation, **{self.flag: marked}))


@pytest.mark.sim
def test_closed_loop_policy_reports_success_per_task(checkpoint, sim):
    from physgen.eval.open_loop import closed_loop
    from physgen.model.checkpoint import load_checkpoint
    from physgen.model.world_env import WorldModelEnv

    model, tokenizer = load_checkpoint(checkpoint)
    seeds = [EVAL_SEED_START, EVAL_SEED_START + 1]
    simulator = MarkedAtChunk(sim, seed=seeds[0], chunk=2)
    summary = closed_loop(WorldModelEnv(model, tokenizer), simulator, scenes=["PushCube-v1"], seeds=seeds, max_chunks=3)
    assert summary["success_PushCube-v1"] == summary["success_rate"] == 0.5
    assert "grasped_PushCube-v1" not in summary  # PushCube has no grasp check
    assert summary["steps_to_success"] == 2 * model.config.chunk  # the success stops the episode
    assert simulator.chunks == 3  # the other episode runs to max_chunks
    assert sim.step(np.zeros(7)).observation.elapsed_steps == 3 * model.config.chunk + 1


@pytest.mark.sim
def test_closed_loop_reports_the_grasp_rate_where_the_task_checks_grasping(checkpoint, sim):
    from physgen.eval.open_loop import closed_loop
    from physgen.model.checkpoint import load_checkpoint
    from physgen.model.world_env import WorldModelEnv

    model, tokenizer = load_checkpoint(checkpoint)
    seeds = [EVAL_SEED_START, EVAL_SEED_START + 1]
    simulator = MarkedAtChunk(sim, seed=seeds[1], chunk=1, flag="grasped")
    summary = closed_loop(WorldModelEnv(model, tokenizer), simulator, scenes=["PickCube-v1"], seeds=seeds, max_chunks=2)
    assert summary["grasped_PickCube-v1"] == 0.5 and summary["success_PickCube-v1"] == 0.0


def test_closed_loop_refuses_training_seeds(checkpoint, sim):
    from physgen.eval.open_loop import closed_loop
    from physgen.model.checkpoint import load_checkpoint
    from physgen.model.world_env import WorldModelEnv

    model, tokenizer = load_checkpoint(checkpoint)
    with pytest.raises(InputError, match="held-out"):
        closed_loop(WorldModelEnv(model, tokenizer), sim, scenes=["PushCube-v1"], seeds=[3], max_chunks=1)


def test_export_ships_the_fast_decoder_in_half_precision(checkpoint, tmp_path):
    from physgen.model.checkpoint import export_checkpoint, load_checkpoint
    from physgen.model.fast_decoder import FastDecoder
    from physgen.model.tokenizer import FrameTokenizer

    tokenizer = FrameTokenizer.from_pretrained(checkpoint / "tokenizer")
    tokenizer.fast_decoder = FastDecoder.from_vae(tokenizer.vae, block_out_channels=(16, 16, 32, 16))
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    export_checkpoint(checkpoint, tmp_path / "tokenizer", tmp_path / "shipped")
    from safetensors import safe_open

    with safe_open(tmp_path / "shipped" / "tokenizer" / "fast_decoder" / "diffusion_pytorch_model.safetensors", "pt") as f:
        assert {f.get_tensor(name).dtype for name in f.keys()} == {torch.float16}
    assert load_checkpoint(tmp_path / "shipped")[1].has_fast_decoder


def test_export_onto_the_checkpoint_it_reads_keeps_its_tokenizer(checkpoint, tmp_path):
    """As in scripts/train_small.sh: a re-export over the folder that holds the tokenizer it ships."""
    import shutil

    from physgen.model.checkpoint import export_checkpoint, load_checkpoint

    folder = shutil.copytree(checkpoint, tmp_path / "ckpt")
    export_checkpoint(folder, folder / "tokenizer", folder, sample_steps=4)
    model, tokenizer = load_checkpoint(folder)
    assert model.config.sample_steps == 4 and tokenizer.config == load_checkpoint(checkpoint)[1].config


def test_export_sets_the_shipped_inference_settings_and_rejects_bad_ones(checkpoint, tmp_path):
    from physgen.model.checkpoint import export_checkpoint, load_checkpoint

    export_checkpoint(checkpoint, checkpoint / "tokenizer", tmp_path / "shipped", sample_steps=5, cfg_scale=1.5, cfg_interval=(0.7, 1.0),
                      frame_temperature=0.5, action_temperature=0.0)
    config = load_checkpoint(tmp_path / "shipped")[0].config
    assert (config.sample_steps, config.cfg_scale, list(config.cfg_interval), config.frame_temperature, config.action_temperature) == (
        5, 1.5, [0.7, 1.0], 0.5, 0.0)
    with pytest.raises(InputError, match="cfg_interval"):
        export_checkpoint(checkpoint, checkpoint / "tokenizer", tmp_path / "bad", cfg_interval=(0.9, 0.1))
    with pytest.raises(InputError, match="sample_steps"):
        export_checkpoint(checkpoint, checkpoint / "tokenizer", tmp_path / "bad", sample_steps=0)
    with pytest.raises(InputError, match="cfg_scale"):
        export_checkpoint(checkpoint, checkpoint / "tokenizer", tmp_path / "bad", cfg_scale=-1)
    with pytest.raises(InputError, match="frame_temperature"):
        export_checkpoint(checkpoint, checkpoint / "tokenizer", tmp_path / "bad", frame_temperature=5.0)
    with pytest.raises(InputError, match="action_temperature"):
        export_checkpoint(checkpoint, checkpoint / "tokenizer", tmp_path / "bad", action_temperature=-1.0)
    with pytest.raises(InputError, match="frame_rounds"):  # the tiny checkpoint's frame head is per-token
        export_checkpoint(checkpoint, checkpoint / "tokenizer", tmp_path / "bad", frame_rounds=2)
    with pytest.raises(InputError, match="only the sampler options"):
        export_checkpoint(checkpoint, checkpoint / "tokenizer", tmp_path / "bad", depth=2)
    assert not (tmp_path / "bad").exists()


@pytest.mark.sim
def test_play_open_loop_drives_the_simulator_and_the_model_with_the_same_chunks(checkpoint, sim):
    from physgen.eval.open_loop import open_loop, play_rollout
    from physgen.model.checkpoint import load_checkpoint
    from physgen.model.world_env import WorldModelEnv

    env = WorldModelEnv(*load_checkpoint(checkpoint))
    first, real, masks, pred = play_rollout(env, sim, "PushCube-v1", EVAL_SEED_START, horizon=3)
    assert real.shape == pred.shape == (3, *first.frame.shape) and masks.shape == real.shape[:3]
    assert not np.array_equal(real[-1], first.frame)  # the play chunks moved the arm
    again = play_rollout(env, sim, "PushCube-v1", EVAL_SEED_START, horizon=3)[1]
    np.testing.assert_array_equal(again, real)  # the seed fixes the chunks
    summary = open_loop(env, sim, "unused", scenes=["PushCube-v1"], episodes_per_scene=1, horizon=2, actions="play")
    assert summary["episodes"] == 1 and 5 < summary["psnr_model"] < 60
