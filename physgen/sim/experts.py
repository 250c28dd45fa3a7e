"""Scripted closed-loop experts in pd_ee_delta_pose: waypoint following, the probe's occluding push,
and random pushes used for the action-free video corpus.

Target tasks (PushCube, PickCube, StackCube) use ManiSkill's own motion-planning solutions instead
(see physgen.data.demos); these scripts cover scenes that have none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from physgen.actions.space import ACTION_DIM, GRIPPER_CLOSED, GRIPPER_OPEN, delta_action


def motion_planning_solutions() -> dict:
    """ManiSkill's motion-planning solutions by env id (pd_joint_pos; they reset the env themselves)."""
    from mani_skill.examples.motionplanning.panda.run import MP_SOLUTIONS

    return MP_SOLUTIONS


def run_motion_planning(env, env_id: str, seed: int) -> bool:
    """Run ManiSkill's solution for env_id on seed; True if the episode ended in success.

    A planner that cannot reach its goal raises; that seed simply fails. Its prints are silenced.
    """
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            result = motion_planning_solutions()[env_id](env, seed=seed, debug=False, vis=False)
    except Exception:
        return False
    return result != -1 and bool(result[-1]["success"].item())


@dataclass(frozen=True)
class Waypoint:
    xyz: tuple[float, float, float]  # world-frame target of the tool centre point
    gripper: float = GRIPPER_CLOSED
    speed: float = 0.02  # metres per control step
    max_steps: int = 60  # give up on this waypoint after this many steps (blocked, unreachable)
    tolerance: float = 0.008  # metres


def follow_waypoints(
    waypoints: list[Waypoint],
    tcp_position: Callable[[], np.ndarray],
    step: Callable[[np.ndarray], None],
    max_total_steps: int = 400,
) -> np.ndarray:
    """Drive the TCP through waypoints with closed-loop delta actions; returns the actions (T, 7)."""
    actions = []
    for wp in waypoints:
        target = np.asarray(wp.xyz, dtype=np.float64)
        for _ in range(wp.max_steps):
            delta = target - tcp_position()
            if np.linalg.norm(delta) < wp.tolerance or len(actions) >= max_total_steps:
                break
            dist = np.linalg.norm(delta)
            move = delta if dist <= wp.speed else delta / dist * wp.speed
            # Closed loop absorbs the lag of delta control; a gain above 1 shortens the approach.
            action = delta_action(np.zeros(3), move, wp.gripper, gain=1.3)
            step(action)
            actions.append(action)
    return np.asarray(actions, dtype=np.float32).reshape(-1, ACTION_DIM)


def probe_waypoints(cube_xyz: np.ndarray, push_speed: float = 0.006) -> list[Waypoint]:
    """The probe scene's scripted occlusion: get behind the cube (-y), push it along +y behind
    the wall and out the other side, then lift away."""
    cx, cy = float(cube_xyz[0]), float(cube_xyz[1])
    return [
        Waypoint((cx, cy - 0.06, 0.10), GRIPPER_CLOSED, speed=0.03),
        Waypoint((cx, cy - 0.045, 0.022), GRIPPER_CLOSED, speed=0.02),
        Waypoint((cx, 0.20, 0.022), GRIPPER_CLOSED, speed=push_speed, max_steps=150),
        Waypoint((cx, 0.20, 0.14), GRIPPER_CLOSED, speed=0.02, max_steps=20),
    ]


def random_push_waypoints(object_xyz: np.ndarray, rng: np.random.Generator, n_pushes: int = 2) -> list[Waypoint]:
    """Random pushes of an object: approach from a random side, push through, lift, repeat.

    The gripper sometimes stays open and the arm sometimes sweeps high, so the corpus also shows
    the arm passing in front of objects (occlusion) without contact.
    """
    waypoints = []
    pos = np.asarray(object_xyz, dtype=np.float64)[:2].copy()
    for _ in range(n_pushes):
        angle = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        start = pos - direction * rng.uniform(0.05, 0.08)
        end = pos + direction * rng.uniform(0.06, 0.15)
        end = np.clip(end, [-0.2, -0.25], [0.15, 0.25])
        grip = GRIPPER_CLOSED if rng.random() < 0.8 else GRIPPER_OPEN
        height = rng.uniform(0.015, 0.03)
        waypoints += [
            Waypoint((start[0], start[1], 0.12), grip, speed=0.03),
            Waypoint((start[0], start[1], height), grip, speed=0.02),
            Waypoint((end[0], end[1], height), grip, speed=rng.uniform(0.006, 0.015), max_steps=60),
            Waypoint((end[0], end[1], 0.12), grip, speed=0.02, max_steps=20),
        ]
        pos = end
    sweep = rng.uniform([-0.15, -0.2], [0.1, 0.2])
    waypoints.append(Waypoint((sweep[0], sweep[1], rng.uniform(0.06, 0.2)), GRIPPER_OPEN, speed=0.03, max_steps=25))
    return waypoints
