import subprocess
import sys


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "physgen", *args], capture_output=True, text=True, timeout=120)


def test_unknown_scene_exits_2_with_the_known_list(tmp_path):
    out = run_cli("demos", "--scene", "Nope-v1", "--num", "1", "--out", str(tmp_path))
    assert out.returncode == 2
    assert "unknown scene" in out.stderr and "PickCube-v1" in out.stderr


def test_eval_seed_range_is_refused(tmp_path):
    out = run_cli("videos", "--num", "20", "--out", str(tmp_path), "--seed-start", "9999")
    assert out.returncode == 2 and "10000" in out.stderr
