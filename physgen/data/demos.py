"""Expert demonstrations in ManiSkill's own h5 + json trajectory format.

Pipeline per shard of seeds (ManiSkill's tools, in physgen.sim.recording):
1. ManiSkill's motion-planning solution runs in pd_joint_pos and RecordEpisode keeps the successful
   episodes (actions + env states) in `<out>/<scene>/raw/shard_XXXX.h5`.
2. ManiSkill's replay_trajectory converts them to pd_ee_delta_pose (the studio's action space) and
   renders the studio camera at the model resolution (rgb + segmentation), writing
   `<out>/<scene>/shard_XXXX.rgb+segmentation.pd_ee_delta_pose.physx_cpu.h5` (+ .json).
Episodes the conversion cannot reproduce to success are dropped by replay_trajectory.

A shard is finished when its converted .json exists, so an interrupted run resumes at the first
unfinished shard. Seeds are deterministic: shard k tries seeds
[seed_start + k * 2 * shard_size, seed_start + (k + 1) * 2 * shard_size), all below EVAL_SEED_START.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from physgen import EVAL_SEED_START, IMAGE_SIZE
from physgen.actions.space import CONTROL_MODE
from physgen.data.episodes import CONVERTED_SUFFIX, DEMO_OBS_MODE
from physgen.errors import InputError
from physgen.sim.experts import motion_planning_solutions
from physgen.sim.recording import record_motion_planning, replay_trajectory
from physgen.sim.scenes import TARGET_TASKS, get_scene


@dataclass
class DemoReport:
    scene: str
    demos: int  # converted demos now on disk for this scene
    new_demos: int  # made by this run
    new_frames: int
    seconds: float
    planned: int  # motion plans attempted by this run
    plan_successes: int

    @property
    def demos_per_min(self) -> float:
        return 60.0 * self.new_demos / max(self.seconds, 1e-9)

    @property
    def frames_per_s(self) -> float:
        return self.new_frames / max(self.seconds, 1e-9)

    def summary(self) -> str:
        return (
            f"{self.scene}: {self.demos} demos on disk ({self.new_demos} new, "
            f"{self.plan_successes}/{self.planned} plans succeeded) in {self.seconds:.0f} s: "
            f"{self.demos_per_min:.1f} demos/min, {self.frames_per_s:.1f} frames/s"
        )


def shard_paths(scene_dir: Path, shard: int) -> tuple[Path, Path]:
    """(raw h5, converted h5) of a shard."""
    raw = scene_dir / "raw" / f"shard_{shard:04d}.h5"
    return raw, scene_dir / f"shard_{shard:04d}{CONVERTED_SUFFIX}.h5"


def count_episodes(h5_path: Path) -> int:
    json_path = h5_path.with_suffix(".json")
    if not json_path.exists():
        return 0
    return len(json.loads(json_path.read_text())["episodes"])


def generate_demos(
    scene: str,
    num: int,
    out_dir: str | os.PathLike,
    seed_start: int = 0,
    shard_size: int = 25,
    image_size: int = IMAGE_SIZE,
    progress: bool = True,
    evaluation: bool = False,
) -> DemoReport:
    """Training demos use seeds below EVAL_SEED_START; evaluation=True makes held-out episodes
    from seeds >= EVAL_SEED_START (for benchmarks only; datasets refuse them)."""
    spec = get_scene(scene)
    if spec.env_id not in motion_planning_solutions():
        raise InputError(f"no motion-planning solution for {spec.env_id}; demos can be made for: {', '.join(TARGET_TASKS)}")
    if not isinstance(num, int) or num < 1:
        raise InputError(f"--num must be an integer >= 1; got {num!r}")
    if not isinstance(shard_size, int) or shard_size < 1:
        raise InputError(f"--shard-size must be an integer >= 1; got {shard_size!r}")
    stride = 2 * shard_size
    n_shards = -(-num // shard_size)
    last_seed = seed_start + n_shards * stride - 1
    if evaluation and seed_start < EVAL_SEED_START:
        raise InputError(f"evaluation seeds must be >= {EVAL_SEED_START}; got --seed-start {seed_start}")
    if not evaluation and (seed_start < 0 or last_seed >= EVAL_SEED_START):
        raise InputError(
            f"training seeds must lie in [0, {EVAL_SEED_START}); --seed-start {seed_start} with "
            f"{num} demos would use seeds up to {last_seed} (seeds >= {EVAL_SEED_START} are reserved for evaluation)"
        )

    from tqdm import tqdm

    scene_dir = Path(out_dir) / spec.env_id
    (scene_dir / "raw").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    report = DemoReport(spec.env_id, 0, 0, 0, 0.0, 0, 0)
    bar = tqdm(total=num, desc=f"demos {spec.env_id}", unit="demo", disable=not progress)
    shard = 0
    while report.demos < num:
        raw_h5, converted_h5 = shard_paths(scene_dir, shard)
        if converted_h5.with_suffix(".json").exists():
            done = count_episodes(converted_h5)
        else:
            want = min(shard_size, num - report.demos)
            seeds = range(seed_start + shard * stride, seed_start + (shard + 1) * stride)
            bar.set_postfix_str(f"shard {shard}: planning")
            planned, successes = record_motion_planning(spec.env_id, seeds, want, raw_h5, image_size)
            report.planned += planned
            report.plan_successes += successes
            bar.set_postfix_str(f"shard {shard}: converting to {CONTROL_MODE}")
            done = _convert_shard(raw_h5, converted_h5) if successes else 0
            if not successes:  # still mark the shard finished so a resume does not retry it forever
                _write_empty(converted_h5, spec.env_id)
            report.new_demos += done
            report.new_frames += _count_frames(converted_h5)
        report.demos += done
        bar.update(min(done, num - bar.n))
        report.seconds = time.perf_counter() - start
        if report.new_demos:
            bar.set_postfix_str(f"{report.demos_per_min:.1f} demos/min, {report.frames_per_s:.0f} frames/s")
        shard += 1
        if shard > 4 * n_shards + 4:
            raise RuntimeError(f"{spec.env_id}: too many failed plans; only {report.demos} demos after {shard} shards")
    bar.close()
    report.seconds = time.perf_counter() - start
    return report


def _convert_shard(raw_h5: Path, converted_h5: Path) -> int:
    replay_trajectory(raw_h5, DEMO_OBS_MODE, CONTROL_MODE)
    produced = raw_h5.parent / (raw_h5.stem + CONVERTED_SUFFIX + ".h5")
    tmp = converted_h5.with_name(converted_h5.name + ".tmp")
    shutil.move(produced, tmp)
    shutil.move(produced.with_suffix(".json"), converted_h5.with_suffix(".json.tmp"))
    os.replace(tmp, converted_h5)
    # The json is the "shard finished" marker, so it is moved last.
    os.replace(converted_h5.with_suffix(".json.tmp"), converted_h5.with_suffix(".json"))
    return count_episodes(converted_h5)


def _write_empty(converted_h5: Path, env_id: str) -> None:
    import h5py

    with h5py.File(converted_h5, "w"):
        pass
    converted_h5.with_suffix(".json").write_text(json.dumps({"env_info": {"env_id": env_id}, "episodes": []}))


def _count_frames(h5_path: Path) -> int:
    json_path = h5_path.with_suffix(".json")
    if not json_path.exists():
        return 0
    return sum(ep["elapsed_steps"] + 1 for ep in json.loads(json_path.read_text())["episodes"])
