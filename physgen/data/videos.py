"""The action-free video corpus for stage-1 (video) pretraining.

Videos come from ManiSkill scenes *other than* the target tasks (PushCube, PickCube, StackCube), so
that a pretrained-vs-scratch comparison measures transfer. They show physics: objects pulled,
lifted, dropped into a bin and rolling (motion-planning solutions), pushed around at random
(scripted pushes), and hidden behind a wall or the arm (the probe scene). All are rendered from
the studio camera, so object scale matches the target tasks. Frames are stored at every control
step, without actions: `<out>/<scene>/ep_<seed>.h5` holds `frames (T, H, W, 3) uint8`.

Video i of `--num N` is scene i mod S with seed seed_start + i // S (S = number of scenes); an
existing file is skipped, so an interrupted run resumes where it stopped. Work proceeds in blocks
of 10 videos per scene, round-robin over scenes, so a partial corpus still covers every scene.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from physgen import EVAL_SEED_START, IMAGE_SIZE
from physgen.actions.space import CONTROL_MODE
from physgen.errors import InputError
from physgen.sim.camera import CAMERA_NAME
from physgen.sim.experts import follow_waypoints, probe_waypoints, random_push_waypoints, run_motion_planning
from physgen.sim.scenes import TARGET_TASKS

BLOCK = 10  # videos of one scene made in a row
MIN_FRAMES = 16  # shorter episodes (a planner that failed at once) are not worth storing


@dataclass(frozen=True)
class CorpusScene:
    motion: str  # "motionplanning", "push" or "probe"
    env_kwargs: dict = field(default_factory=dict)


CORPUS_SCENES: dict[str, CorpusScene] = {
    "PullCube-v1": CorpusScene("motionplanning"),
    "LiftPegUpright-v1": CorpusScene("motionplanning"),
    "PlaceSphere-v1": CorpusScene("motionplanning"),
    "PullCubeTool-v1": CorpusScene("motionplanning"),
    "StackPyramid-v1": CorpusScene("motionplanning", {"robot_uids": "panda"}),
    "PegInsertionSide-v1": CorpusScene("motionplanning"),
    "PokeCube-v1": CorpusScene("push"),
    "PushT-v1": CorpusScene("push"),
    "PermanenceProbe-v1": CorpusScene("probe"),
}
assert not set(CORPUS_SCENES) & set(TARGET_TASKS), "the corpus must exclude the target tasks"


@dataclass
class VideoReport:
    videos: int = 0  # videos on disk among the requested ones
    new_videos: int = 0
    new_frames: int = 0
    skipped: int = 0  # episodes too short to keep
    seconds: float = 0.0
    per_scene: dict = field(default_factory=dict)

    def summary(self) -> str:
        fps = self.new_frames / max(self.seconds, 1e-9)
        vpm = 60 * self.new_videos / max(self.seconds, 1e-9)
        scenes = ", ".join(f"{k.split('-v')[0]} {v}" for k, v in sorted(self.per_scene.items()))
        return (
            f"{self.videos} videos on disk ({self.new_videos} new, {self.new_frames} frames, "
            f"{self.skipped} too short) in {self.seconds:.0f} s: {vpm:.1f} videos/min, {fps:.1f} frames/s [{scenes}]"
        )


def video_path(out_dir: Path, scene: str, seed: int) -> Path:
    return Path(out_dir) / scene / f"ep_{seed:05d}.h5"


def generate_videos(
    num: int,
    out_dir: str | os.PathLike,
    scenes: list[str] | None = None,
    seed_start: int = 0,
    image_size: int = IMAGE_SIZE,
    progress: bool = True,
) -> VideoReport:
    scenes = list(scenes or CORPUS_SCENES)
    unknown = [s for s in scenes if s not in CORPUS_SCENES]
    if unknown:
        raise InputError(f"unknown corpus scene(s) {unknown}; corpus scenes: {', '.join(CORPUS_SCENES)}")
    if not isinstance(num, int) or num < 1:
        raise InputError(f"--num must be an integer >= 1; got {num!r}")
    last_seed = seed_start + (num - 1) // len(scenes)
    if seed_start < 0 or last_seed >= EVAL_SEED_START:
        raise InputError(f"corpus seeds must lie in [0, {EVAL_SEED_START}); this run would use up to {last_seed}")

    from tqdm import tqdm

    report = VideoReport()
    start = time.perf_counter()
    # Blocks of BLOCK seeds per scene, taken round-robin: each env is created once per block
    # (gym.make costs seconds) and an interrupted run still covers every scene.
    per_scene: dict[str, list[int]] = {}
    for i in range(num):
        per_scene.setdefault(scenes[i % len(scenes)], []).append(seed_start + i // len(scenes))
    blocks = [
        (scene, seeds[b : b + BLOCK])
        for b in range(0, max(len(v) for v in per_scene.values()), BLOCK)
        for scene, seeds in per_scene.items()
        if seeds[b : b + BLOCK]
    ]
    bar = tqdm(total=num, desc="videos", unit="video", disable=not progress)
    for scene, seeds in blocks:
        todo = [s for s in seeds if not video_path(out_dir, scene, s).exists()]
        report.videos += len(seeds) - len(todo)
        bar.update(len(seeds) - len(todo))
        if not todo:
            continue
        recorder = _SceneRecorder(scene, image_size)
        try:
            for seed in todo:
                bar.set_postfix_str(f"{scene} seed {seed}")
                frames, actions = recorder.record(seed)
                if len(frames) < MIN_FRAMES:
                    report.skipped += 1
                else:
                    write_video(video_path(out_dir, scene, seed), frames, actions, scene, seed, CORPUS_SCENES[scene].motion)
                    report.videos += 1
                    report.new_videos += 1
                    report.new_frames += len(frames)
                    report.per_scene[scene] = report.per_scene.get(scene, 0) + 1
                bar.update(1)
                report.seconds = time.perf_counter() - start
                bar.set_postfix_str(f"{report.new_frames / report.seconds:.0f} frames/s")
        finally:
            recorder.close()
    bar.close()
    report.seconds = time.perf_counter() - start
    return report


class _SceneRecorder:
    """One env of a corpus scene that records the studio camera at every control step."""

    def __init__(self, scene: str, image_size: int):
        from physgen.sim.simulator import make_env

        self.scene, self.spec = scene, CORPUS_SCENES[scene]
        control_mode = "pd_joint_pos" if self.spec.motion == "motionplanning" else "pd_ee_delta_pose"
        env = make_env(
            scene, image_size, obs_mode="rgb", control_mode=control_mode, render_mode="rgb_array",
            max_episode_steps=None, **self.spec.env_kwargs,
        )
        self.env = FrameRecorder(env)

    def record(self, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(frames (T, H, W, 3), actions (T - 1, 7) in the studio's action space, or None)."""
        rng = np.random.default_rng(seed)
        actions = None
        if self.spec.motion == "motionplanning":
            run_motion_planning(self.env, self.scene, seed)  # a failed plan still leaves its frames
        else:
            self.env.reset(seed=seed)
            base = self.env.unwrapped
            tcp = lambda: base.agent.tcp.pose.p[0].cpu().numpy().astype(np.float64)  # noqa: E731
            act_dim = self.env.action_space.shape[0]
            step = lambda a: self.env.step(a[:act_dim] if act_dim < len(a) else a)  # noqa: E731
            if self.spec.motion == "probe" and seed % 2 == 0:
                cube = base.cube.pose.p[0].cpu().numpy()
                waypoints = probe_waypoints(cube, push_speed=float(rng.uniform(0.005, 0.009)))
            else:
                waypoints = random_push_waypoints(self._object_position(rng), rng, n_pushes=int(rng.integers(2, 4)))
            actions = follow_waypoints(waypoints, tcp, step, max_total_steps=300)
        frames = np.stack(self.env.frames) if self.env.frames else np.zeros((0, 1, 1, 3), np.uint8)
        return frames, actions

    def _object_position(self, rng: np.random.Generator) -> np.ndarray:
        base = self.env.unwrapped
        movable = [
            actor
            for actor in base.segmentation_id_map.values()
            if getattr(actor, "px_body_type", None) == "dynamic" and not actor.name.startswith("panda")
        ]
        actor = movable[int(rng.integers(len(movable)))]
        return actor.pose.p[0].cpu().numpy()

    def close(self):
        self.env.close()


class FrameRecorder:
    """Wraps an env and keeps the studio camera frame after every reset and step."""

    def __init__(self, env):
        self._env = env
        self.frames: list[np.ndarray] = []

    def __getattr__(self, name):
        return getattr(self._env, name)

    def reset(self, *args, **kwargs):
        obs, info = self._env.reset(*args, **kwargs)
        self.frames = [self._frame(obs)]
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self._env.step(action)
        self.frames.append(self._frame(obs))
        return obs, reward, terminated, truncated, info

    @staticmethod
    def _frame(obs) -> np.ndarray:
        return obs["sensor_data"][CAMERA_NAME]["rgb"][0].cpu().numpy().astype(np.uint8)


def write_video(path: Path, frames: np.ndarray, actions: np.ndarray | None, scene: str, seed: int, source: str) -> None:
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.create_dataset("frames", data=frames, compression="gzip", compression_opts=4, chunks=(1, *frames.shape[1:]))
        if actions is not None and len(actions) == len(frames) - 1:
            f.create_dataset("actions", data=actions.astype(np.float32))
        f.attrs.update({"env_id": scene, "seed": seed, "source": source, "control_freq": 20,
                        "actions": CONTROL_MODE if "actions" in f else "none"})
    os.replace(tmp, path)
