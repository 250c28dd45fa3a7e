"""Studio timings: `python -m app.bench --json` prints one JSON object.

Each figure comes with a baseline measured in the same run:
- click_to_first_prediction_s: from calling the Run callback with one chunk ("right 5cm") to its
  first output, PhysGen's predicted frame (median of `repeats`); baseline click_to_simulator_frame_s,
  the time to the simulator's frame for the same chunk in the same calls.
- cold_start_s: from starting `python app.py` until the page answers HTTP 200; baseline
  gradio_import_s, a bare `python -c "import gradio"` on the same machine.
- first_load_scene_s (simulator env creation + checkpoint load) and load_scene_s (a warm reload).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_start(timeout_s: float = 180.0) -> float:
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout_s:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"the app did not serve within {timeout_s} s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def gradio_import() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio"], check=True, cwd=ROOT)
    return time.perf_counter() - start


def click_timings(scene: str = "PushCube-v1", repeats: int = 5) -> dict:
    from app import callbacks

    start = time.perf_counter()
    session, *_ = callbacks.load_scene(None, scene, 0)
    first_load = time.perf_counter() - start
    start = time.perf_counter()
    callbacks.load_scene(session, scene, 0)
    reload = time.perf_counter() - start
    if session.world is None:
        raise RuntimeError("no checkpoint loaded: the studio bench needs one")
    to_prediction, to_simulator = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        outputs = callbacks.run_actions(session, "right 5cm")
        next(outputs)  # PhysGen's frame
        to_prediction.append(time.perf_counter() - start)
        next(outputs)  # the simulator's frame
        to_simulator.append(time.perf_counter() - start)
        for _ in outputs:
            pass
    session.close()
    return {
        "click_to_first_prediction_s": statistics.median(to_prediction),
        "click_to_simulator_frame_s": statistics.median(to_simulator),
        "first_load_scene_s": first_load,
        "load_scene_s": reload,
    }


def run(repeats: int = 5) -> dict:
    result = click_timings(repeats=repeats)
    result["prediction_vs_simulator_latency"] = result["click_to_first_prediction_s"] / result["click_to_simulator_frame_s"]
    result["cold_start_s"] = cold_start()
    result["gradio_import_s"] = gradio_import()
    result["cold_start_vs_gradio_import"] = result["cold_start_s"] / result["gradio_import_s"]
    result["torch_threads"] = __import__("torch").get_num_threads()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the JSON object on one line")
    args = parser.parse_args(argv)
    result = run()
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
