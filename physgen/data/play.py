"""Play episodes: random drive commands in the target scenes, chosen afresh at every chunk.

Expert demos make the next chunk predictable from the frames, so a world model trained on them
alone learns to ignore the commanded chunk (model card, "action following"). Play breaks that link:
each chunk is a new random choice between
- a drive key press: a random direction and distance, sometimes toggling the gripper;
- holding still, sometimes toggling the gripper;
- a step toward a point near a task object, so that objects get pushed, knocked over and sometimes
  grasped.
The chunks are the ones the studio sends (drive keys and typed moves are straight constant-speed
chunks), so the model also trains on what its users will do.

Episodes are stored as the corpus stores its scripted ones (physgen.data.videos): frames at every control
step and the actions, in `<out>/<scene>/ep_<seed>.h5` with source "play". The token pack reads
them; training uses them for the frame loss only, never as demonstrations for the policy head.
An existing file is skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from physgen import EVAL_SEED_START, IMAGE_SIZE
from physgen.actions.language import DIRECTIONS, drive_chunk
from physgen.actions.space import DEFAULT_CHUNK_LEN, GRIPPER_CLOSED, GRIPPER_OPEN, chunks_to_target
from physgen.data.episodes import PLAY_SOURCE
from physgen.errors import InputError
from physgen.sim.scenes import TARGET_TASKS, get_scene

PLAY_SEED_START = 5_000  # play seeds differ from the demos' (which start at 0)
# Where play keeps the gripper (world frame, metres): the reachable table top and a safe height.
TCP_LOW = np.array([-0.22, -0.28, 0.012])
TCP_HIGH = np.array([0.18, 0.28, 0.25])
DRIVE_DISTANCE_M = (0.01, 0.06)  # per chunk
CHOICE_WEIGHTS = {"drive": 0.45, "stay": 0.1, "seek": 0.45}
GRIPPER_TOGGLE = 0.15


def play_chunk(rng: np.random.Generator, tcp: np.ndarray, objects: list[np.ndarray], gripper: float,
               chunk_len: int = DEFAULT_CHUNK_LEN) -> tuple[np.ndarray, float]:
    """One random chunk (chunk_len, 7) from the gripper at tcp (3,), and the gripper command after it."""
    kind = rng.choice(list(CHOICE_WEIGHTS), p=list(CHOICE_WEIGHTS.values()))
    if kind != "seek" and rng.random() < GRIPPER_TOGGLE:
        gripper = GRIPPER_OPEN if gripper == GRIPPER_CLOSED else GRIPPER_CLOSED
    if kind == "drive":
        name = str(rng.choice([d for d in DIRECTIONS if d != "backward"]))
        distance = float(rng.uniform(*DRIVE_DISTANCE_M))
        end = tcp + np.asarray(DIRECTIONS[name]) * distance
        if np.all((end >= TCP_LOW) & (end <= TCP_HIGH)):
            return drive_chunk(name, gripper, chunk_len, distance), gripper
        kind = "seek"  # a press that would leave the workspace becomes a step back toward the objects
    if kind == "stay":
        return drive_chunk("stay", gripper, chunk_len), gripper
    target = objects[int(rng.integers(len(objects)))] + rng.normal(0, [0.04, 0.04, 0.02])
    target = np.clip(target, TCP_LOW, TCP_HIGH)
    delta = target - tcp
    distance = np.linalg.norm(delta)
    step = min(distance, float(rng.uniform(*DRIVE_DISTANCE_M)))
    goal = tcp + (delta / distance * step if distance > 0 else 0)
    return chunks_to_target(tcp, goal, gripper, chunk_len)[:chunk_len], gripper


def initial_gripper(rng: np.random.Generator) -> float:
    return GRIPPER_OPEN if rng.random() < 0.5 else GRIPPER_CLOSED


def play_path(out_dir: str | os.PathLike, scene: str, seed: int) -> Path:
    return Path(out_dir) / scene / f"ep_{seed:05d}.h5"


def generate_play(scene: str, num: int, out_dir: str | os.PathLike, chunks: int = 20, seed_start: int = PLAY_SEED_START,
                  image_size: int = IMAGE_SIZE, progress: bool = True) -> dict:
    """`num` play episodes of `chunks` chunks in a target scene; returns counts and speed."""
    from tqdm import tqdm

    from physgen.data.videos import FrameRecorder, write_video
    from physgen.sim.simulator import make_env

    if scene not in TARGET_TASKS:
        raise InputError(f"play is made in the target scenes {', '.join(TARGET_TASKS)}; got {scene!r}")
    if not isinstance(num, int) or num < 1 or not isinstance(chunks, int) or chunks < 1:
        raise InputError(f"--num and --chunks must be integers >= 1; got {num!r}, {chunks!r}")
    if seed_start < 0 or seed_start + num > EVAL_SEED_START:
        raise InputError(f"play seeds must lie in [0, {EVAL_SEED_START}); this run would use {seed_start}..{seed_start + num - 1}")
    spec = get_scene(scene)
    todo = [s for s in range(seed_start, seed_start + num) if not play_path(out_dir, scene, s).exists()]
    start, frames_made = time.perf_counter(), 0
    bar = tqdm(total=num, initial=num - len(todo), desc=f"play {scene}", unit="episode", disable=not progress)
    if todo:
        env = FrameRecorder(make_env(scene, image_size, obs_mode="rgb", render_mode="rgb_array", max_episode_steps=None))
        try:
            for seed in todo:
                rng = np.random.default_rng(seed)
                env.reset(seed=seed)
                base = env.unwrapped
                actors = [a for a in base.segmentation_id_map.values() if getattr(a, "name", None) in spec.objects]
                gripper = initial_gripper(rng)
                actions = []
                for _ in range(chunks):
                    tcp = base.agent.tcp.pose.p[0].cpu().numpy().astype(np.float64)
                    objects = [a.pose.p[0].cpu().numpy().astype(np.float64) for a in actors]
                    chunk, gripper = play_chunk(rng, tcp, objects, gripper)
                    for action in chunk:
                        env.step(action)
                    actions.append(chunk)
                write_video(play_path(out_dir, scene, seed), np.stack(env.frames), np.concatenate(actions), scene, seed, PLAY_SOURCE)
                frames_made += len(env.frames)
                bar.update(1)
                bar.set_postfix_str(f"{frames_made / (time.perf_counter() - start):.0f} frames/s")
        finally:
            env.close()
    bar.close()
    return {"scene": scene, "episodes": num, "new": len(todo), "frames": frames_made, "seconds": time.perf_counter() - start}
