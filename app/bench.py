"""Studio timings: `python -m app.bench --json` prints one JSON object.

Each figure comes with a baseline measured in the same run:
- click_to_first_prediction_s: from calling the Run callback with one chunk ("right 5cm") to its
  first output, PhysGen's predicted frame (median of `repeats`); baseline click_to_simulator_frame_s,
  the time to the simulator's frame for the same chunk in the same calls.
- cold_start_s: from starting `python app.py` until the page answers HTTP 200; baseline
  gradio_import_s, a bare `python -c "import gradio"` on the same machine.
- first_load_scene_s (simulator env creation + checkpoint load) and load_scene_s (a warm reload).

`--sessions N` (issue 10): a served app and N gradio_client sessions at once (in a child process,
as remote browsers would be), each loading its own scene and seed and running one chunk; p50 and
p95 of the chunk's time against a single user in the same run, and a cross-talk check (each session's final gripper position against the same actions
replayed alone in a fresh simulator). Also the first load of each scene in a new session once the
server is warm (the env pool is full). The server's CPU seconds per chunk, alone and under load,
give p95_floor_vs_single: n chunks' CPU time spread over the cores the queue can use, against one
user's chunk, the ratio no scheduling can beat on this machine. `--rss-steps N`: resident memory over N control steps of
driving in one session (the episode cap keeps it flat).
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


PROGRAMS = ("right 2cm", "left 2cm", "forward 2cm", "back 2cm", "up 2cm", "down 2cm", "right 1cm; up 1cm", "left 1cm; down 1cm")
GRIPPER_RE = r"Gripper at x=(-?[0-9.]+), y=(-?[0-9.]+), z=(-?[0-9.]+) m"


def _serve():
    """The app served in this process (the env pool fills in the background). Returns (demo, url)."""
    from app.layout import build_app, launch

    port = _free_port()
    demo = build_app()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, quiet=True)
    return demo, f"http://127.0.0.1:{port}"


def _wait_for_pool(scenes, timeout_s: float = 300.0) -> float:
    from app.callbacks import chunk_length
    from app.env_pool import shared_pool
    from physgen.sim.simulator import Simulator

    pool, start = shared_pool(Simulator, chunk_length()), time.perf_counter()
    while any(pool.ready_count(s) < pool.config.per_scene for s in scenes):
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError("the env pool did not fill")
        time.sleep(0.5)
    return time.perf_counter() - start


def _gripper(status: str):
    import re

    m = re.search(GRIPPER_RE, status)
    return [float(v) for v in m.groups()] if m else None


def _session_run(url: str, scene: str, seed: int, program: str, barrier=None) -> dict:
    from gradio_client import Client

    # The page's images stay on the server (a browser would fetch them on the user's machine).
    client = Client(url, verbose=False, download_files=False)
    start = time.perf_counter()
    client.predict(scene, seed, False, api_name="/load_scene")
    load_s = time.perf_counter() - start
    if barrier is not None:
        barrier.wait()  # all sessions loaded
        barrier.wait()  # and the pool refilled: the chunks are timed on a warm server
    start = time.perf_counter()
    outputs = client.predict(program, api_name="/run")
    return {"scene": scene, "seed": seed, "program": program, "load_s": load_s, "chunk_s": time.perf_counter() - start,
            "gripper": _gripper(outputs[3])}


def _replay_alone(scene: str, seed: int, program: str) -> list[float]:
    from app.callbacks import chunk_length
    from physgen.actions.language import parse_actions
    from physgen.actions.space import pad_to_chunks
    from physgen.sim.simulator import SimConfig, Simulator

    sim = Simulator(SimConfig(chunk_len=chunk_length()))
    try:
        sim.reset(scene, seed)
        actions, _ = pad_to_chunks(parse_actions(program, chunk_len=chunk_length()).actions, chunk_length())
        sim.step(actions)
        return [round(float(v), 3) for v in sim.ee_position]
    finally:
        sim.close()


def _sessions_process(url: str, n: int, loaded, go, results) -> None:
    """In a child process (so that the clients do not share the server's GIL, as browsers would
    not): n sessions each load their scene; then, on `go`, all run one chunk at once."""
    import threading

    from physgen.sim.scenes import SCENES

    scenes, barrier, out, threads = list(SCENES), threading.Barrier(n + 1), [None] * n, []
    for i in range(n):
        def one(i=i):
            out[i] = _session_run(url, scenes[i % len(scenes)], 200 + i, PROGRAMS[i % len(PROGRAMS)], barrier)
        threads.append(threading.Thread(target=one))
        threads[-1].start()
    barrier.wait()  # every session has loaded its scene
    loaded.set()
    go.wait()
    barrier.wait()  # go: the chunks run at once
    for thread in threads:
        thread.join()
    results.put(out)


def _timed_sessions(url: str, n: int, scenes) -> tuple[list[dict], float]:
    """n client sessions in a child process load their scenes, then run one chunk each at once, on
    a warm server. Returns their results and the server's CPU seconds (all its threads) per chunk."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")  # the server's threads make fork unsafe
    loaded, go, queue = spawn.Event(), spawn.Event(), spawn.Queue()
    clients = spawn.Process(target=_sessions_process, args=(url, n, loaded, go, queue))
    clients.start()
    if not loaded.wait(timeout=600):
        raise TimeoutError("the sessions did not load their scenes")
    _wait_for_pool(scenes)  # the pool refilled: the chunks are timed on a warm server
    cpu_start = time.process_time()
    go.set()
    results = queue.get(timeout=600)
    cpu_per_chunk = (time.process_time() - cpu_start) / n
    clients.join(timeout=60)
    return results, cpu_per_chunk


def concurrent_sessions(n: int = 8, single_repeats: int = 3) -> dict:
    """N sessions at once against one user alone, in one served app (see the module docstring)."""
    from physgen.sim.scenes import SCENES

    scenes = list(SCENES)
    demo, url = _serve()
    try:
        pool_fill_s = _wait_for_pool(scenes)
        # First load of each scene in a new session, the server warm (the pool holds a ready env per scene).
        first_loads = {}
        for scene in scenes:
            first_loads[scene] = _session_run(url, scene, 1, "wait 1")["load_s"]
            _wait_for_pool(scenes)
        # One user alone, from a client process as the N sessions are (a new session each time).
        alone = [_timed_sessions(url, 1, scenes) for _ in range(single_repeats)]
        single = [results[0]["chunk_s"] for results, _ in alone]
        single_cpu_s = statistics.median(cpu for _, cpu in alone)
        results, concurrent_cpu_s = _timed_sessions(url, n, scenes)
    finally:
        demo.close()
    chunk = sorted(r["chunk_s"] for r in results)
    single_s = statistics.median(single)
    p50, p95 = statistics.median(chunk), float(__import__("numpy").percentile(chunk, 95))
    mismatches = []
    for r in results:
        alone = _replay_alone(r["scene"], r["seed"], r["program"])
        if r["gripper"] is None or max(abs(a - b) for a, b in zip(alone, r["gripper"])) > 0.002:
            mismatches.append({**r, "alone": alone})
    from app.layout import CONCURRENCY

    concurrency = int(os.environ.get("PHYSGEN_CONCURRENCY", CONCURRENCY))
    return {
        "sessions": n, "concurrency": concurrency, "single_user_chunk_s": single_s,
        "concurrent_chunk_p50_s": p50, "concurrent_chunk_p95_s": p95,
        "p50_vs_single": p50 / single_s, "p95_vs_single": p95 / single_s,
        "server_cpu_per_chunk_single_s": single_cpu_s, "server_cpu_per_chunk_concurrent_s": concurrent_cpu_s, "cores": os.cpu_count(),
        # The last of n chunks cannot end before the n chunks' CPU time has run on the cores the queue can use.
        "p95_floor_vs_single": n * single_cpu_s / min(os.cpu_count() or 1, concurrency) / single_s,
        "concurrent_load_s_max": max(r["load_s"] for r in results),
        "cross_talk_sessions": len(mismatches), "cross_talk_detail": mismatches,
        "first_load_scene_warm_s": first_loads, "pool_fill_s": pool_fill_s,
    }


def rss_over_steps(steps: int = 2000, every_chunks: int = 25) -> dict:
    """Resident memory while one session drives `steps` control steps (a chunk per press)."""
    from app import callbacks

    def rss_mb() -> float:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

    session, *_ = callbacks.load_scene(None, "PushCube-v1", 0)
    chunk, keys, samples = callbacks.chunk_length(session), "dawsqe", []
    start = time.perf_counter()
    for k in range(steps // chunk):
        callbacks.drive(session, keys[k % len(keys)])
        if (k + 1) % every_chunks == 0:
            samples.append({"steps": (k + 1) * chunk, "rss_mb": round(rss_mb(), 1)})
    session.close()
    half = samples[len(samples) // 2]
    return {"rss_steps": steps, "rss_samples": samples, "rss_growth_mb": samples[-1]["rss_mb"] - samples[0]["rss_mb"],
            "rss_growth_second_half_mb": samples[-1]["rss_mb"] - half["rss_mb"], "rss_kept_chunks": len(session.real),
            "rss_dropped_chunks": session.dropped, "rss_seconds": time.perf_counter() - start}


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
    parser.add_argument("--sessions", type=int, default=0, help="only the concurrency bench, with this many gradio_client sessions")
    parser.add_argument("--rss-steps", type=int, default=0, help="only the memory bench, over this many control steps")
    args = parser.parse_args(argv)
    if args.sessions < 0 or args.rss_steps < 0:
        parser.error("--sessions and --rss-steps must be >= 0")
    result = {}
    if args.sessions:
        result.update(concurrent_sessions(args.sessions))
    if args.rss_steps:
        result.update(rss_over_steps(args.rss_steps))
    if not result:
        result = run()
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
