import subprocess
import sys

from physgen import EVAL_SEED_START


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "physgen", *args], capture_output=True, text=True, timeout=120)


def test_unknown_scene_exits_2_with_the_known_list(tmp_path):
    out = run_cli("demos", "--scene", "Nope-v1", "--num", "1", "--out", str(tmp_path))
    assert out.returncode == 2
    assert "unknown scene" in out.stderr and "PickCube-v1" in out.stderr


def test_eval_seed_range_is_refused(tmp_path):
    out = run_cli("videos", "--num", "20", "--out", str(tmp_path), "--seed-start", str(EVAL_SEED_START - 1))
    assert out.returncode == 2 and str(EVAL_SEED_START) in out.stderr


def test_left_out_training_options_take_the_config_defaults(monkeypatch, tmp_path):
    import physgen.train.world_model
    from physgen.cli import main

    seen = []

    def record(config):
        seen.append(config)
        return {}

    monkeypatch.setattr(physgen.train.world_model, "train", record)
    assert main(["train", "--stage", "actions", "--out", str(tmp_path), "--token-pack", str(tmp_path), "--lr", "0.01"]) == 0
    (config,) = seen
    defaults = physgen.train.world_model.TrainConfig("actions", str(tmp_path), "unused", token_pack=str(tmp_path))
    assert (config.batch_size, config.window, config.minutes, config.seed) == (defaults.batch_size, defaults.window, defaults.minutes, defaults.seed)
    assert config.lr == 0.01 != defaults.lr
