"""ManiSkill's own trajectory tools, used by the demo generator (physgen.data.demos).

- `record_motion_planning`: ManiSkill's motion-planning solution runs in pd_joint_pos and
  RecordEpisode keeps the successful episodes (actions + env states) in one h5 + json.
- `replay_trajectory`: ManiSkill's replay_trajectory converts such a file to another control mode
  and observation mode, rendering the studio camera.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from physgen.sim.experts import run_motion_planning


def record_motion_planning(env_id: str, seeds, want: int, raw_h5: Path, image_size: int) -> tuple[int, int]:
    """Plan seeds in order until `want` succeed; returns (planned, successes). Successes go to raw_h5."""
    from mani_skill.utils.wrappers.record import RecordEpisode

    from physgen.sim.simulator import make_env

    for stale in (raw_h5, raw_h5.with_suffix(".json")):
        stale.unlink(missing_ok=True)
    # The task's own episode limit is kept: it is recorded in the json that replay_trajectory reads.
    env = make_env(env_id, image_size, obs_mode="none", control_mode="pd_joint_pos", render_mode="rgb_array", max_episode_steps=None)
    env = RecordEpisode(
        env,
        output_dir=str(raw_h5.parent),
        trajectory_name=raw_h5.stem,
        save_video=False,
        source_type="motionplanning",
        source_desc="ManiSkill's motion-planning solution, via physgen demos",
        record_reward=False,
        save_on_reset=False,
    )
    planned = successes = 0
    try:
        for seed in seeds:
            if successes >= want:
                break
            planned += 1
            ok = run_motion_planning(env, env_id, seed)
            env.flush_trajectory(save=ok)
            successes += ok
    finally:
        env.close()
    return planned, successes


def replay_trajectory(raw_h5: Path, obs_mode: str, control_mode: str) -> None:
    """Replay raw_h5 into `<stem>.<obs_mode>.<control_mode>.physx_cpu.h5` (+ .json) beside it.

    Episodes the conversion cannot reproduce to success are dropped by ManiSkill.
    """
    from mani_skill.trajectory import replay_trajectory as rt

    args = rt.Args(
        traj_path=str(raw_h5),
        obs_mode=obs_mode,
        target_control_mode=control_mode,
        save_traj=True,
        use_first_env_state=True,
        sim_backend="physx_cpu",
        num_envs=1,
    )
    # replay_trajectory draws a progress bar per episode on stderr; the shard-level bar is enough.
    # Errors still propagate as exceptions.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rt.main(args)
