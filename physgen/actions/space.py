"""Actions in ManiSkill's pd_ee_delta_pose space, and helpers that turn targets into them.

An action is 7-D in [-1, 1]: [dx dy dz drx dry drz gripper]. Translation is in the robot's root
frame and 1.0 means 0.1 m per control step; rotation 1.0 means 0.1 rad; gripper +1 opens and
-1 closes. An action chunk is (L, 7): L consecutive control steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from physgen.errors import InputError

# The control mode of every scene, and of the world model: 7-D end-effector delta pose in [-1, 1]
# ([dx dy dz drx dry drz gripper]); 1.0 is 0.1 m (or 0.1 rad) per control step, gripper -1 closes.
CONTROL_MODE = "pd_ee_delta_pose"
ACTION_DIM = 7
# L: control steps per action chunk, the world model's physical step. New models and data windows
# default to it; a loaded checkpoint says its own in its config, and the studio reads it there.
DEFAULT_CHUNK_LEN = 8
METERS_PER_UNIT = 0.1  # pd_ee_delta_pose: normalised 1.0 commands 0.1 m per control step
# The arm covers only this fraction of a commanded delta: each step's target is re-based on the
# current pose and the PD drive lags at 20 Hz. Measured with 8-step chunks on the Panda (PushCube,
# any axis, 0.05-0.4 units, after settling): 0.39 +- 0.01. Open-loop helpers divide by it so that
# "right 5cm" moves about 5 cm.
TRACKING = 0.39
EFFECTIVE_METERS_PER_UNIT = METERS_PER_UNIT * TRACKING
GRIPPER_OPEN = 1.0
GRIPPER_CLOSED = -1.0
# Reachable part of the table top (world frame, metres), for targets set by clicks.
WORKSPACE_X = (-0.30, 0.25)
WORKSPACE_Y = (-0.35, 0.35)


def validate_actions(actions) -> np.ndarray:
    """Return actions as a float32 (T, 7) array, or raise InputError saying what is wrong.

    Accepts one action (7,) or a chunk (T, 7) with T >= 1, finite, each entry in [-1, 1].
    """
    try:
        arr = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"actions must be numbers shaped (7,) or (T, 7); could not read them: {exc}") from None
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != ACTION_DIM or arr.shape[0] == 0:
        raise InputError(
            f"actions must have shape (7,) or (T, 7) with T >= 1 "
            f"([dx dy dz drx dry drz gripper]); got shape {tuple(np.shape(actions))}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        t, d = np.argwhere(bad)[0]
        raise InputError(f"actions must be finite; step {t}, component {d} is {arr[t, d]}")
    if np.abs(arr).max() > 1.0 + 1e-6:
        t, d = np.unravel_index(np.abs(arr).argmax(), arr.shape)
        raise InputError(
            f"action components must lie in [-1, 1] (1.0 = 0.1 m or 0.1 rad per step); "
            f"step {t}, component {d} is {arr[t, d]:.3g}"
        )
    return np.clip(arr, -1.0, 1.0).astype(np.float32)


def pad_to_chunks(actions, chunk_len: int) -> tuple[np.ndarray, int]:
    """Complete the last chunk by holding still with the last gripper command.

    Returns (actions (N * chunk_len, 7), number of hold steps added). The simulator and the world
    model both get the padded actions, so their frames stay aligned chunk by chunk.
    """
    acts = validate_actions(actions)
    pad = (-len(acts)) % chunk_len
    if pad:
        hold = np.zeros((pad, ACTION_DIM), np.float32)
        hold[:, 6] = acts[-1, 6]
        acts = np.concatenate([acts, hold])
    return acts, pad


def commanded_path(start_xyz: Sequence[float], actions) -> np.ndarray:
    """(T + 1, 3) world positions the commands ask for, step by step, from start_xyz.

    Uses the measured tracking, so it is where a typed move means the gripper to be; the simulator's
    executed path shows how far contact and joint limits take it from there.
    """
    acts = validate_actions(actions)
    steps = acts[:, :3].astype(np.float64) * EFFECTIVE_METERS_PER_UNIT  # (T, 3)
    return np.asarray(start_xyz, dtype=np.float64)[None] + np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)])


def delta_action(current_xyz: Sequence[float], target_xyz: Sequence[float], gripper: float, gain: float = 1.0) -> np.ndarray:
    """One closed-loop step toward target_xyz (world frame; the Panda root is not rotated)."""
    delta = (np.asarray(target_xyz, dtype=np.float64) - np.asarray(current_xyz, dtype=np.float64)) * gain
    action = np.zeros(ACTION_DIM, dtype=np.float32)
    action[:3] = np.clip(delta / METERS_PER_UNIT, -1.0, 1.0)
    action[6] = gripper
    return action


def chunks_to_target(
    current_xyz: Sequence[float],
    target_xyz: Sequence[float],
    gripper: float = GRIPPER_OPEN,
    chunk_len: int = DEFAULT_CHUNK_LEN,
    max_speed: float = 0.5,
) -> np.ndarray:
    """Open-loop chunks that move the end effector in a straight line to target_xyz.

    Returns (N * chunk_len, 7): the fewest whole chunks whose per-step command stays under
    max_speed (normalised units). Commands are scaled by 1 / TRACKING so the arm ends near the
    target (within about 1 cm); a closed-loop caller can issue a correcting chunk.
    """
    if chunk_len < 1:
        raise InputError(f"chunk_len must be >= 1; got {chunk_len}")
    if not 0 < max_speed <= 1:
        raise InputError(f"max_speed must be in (0, 1]; got {max_speed}")
    delta = np.asarray(target_xyz, dtype=np.float64) - np.asarray(current_xyz, dtype=np.float64)
    if delta.shape != (3,) or not np.isfinite(delta).all():
        raise InputError(f"positions must be finite 3-D points; got {current_xyz!r} -> {target_xyz!r}")
    steps_needed = max(1, math.ceil(np.abs(delta).max() / EFFECTIVE_METERS_PER_UNIT / max_speed))
    n_steps = math.ceil(steps_needed / chunk_len) * chunk_len
    actions = np.zeros((n_steps, ACTION_DIM), dtype=np.float32)
    actions[:, :3] = delta / n_steps / EFFECTIVE_METERS_PER_UNIT
    actions[:, 6] = gripper
    return actions


def pixel_to_table(
    pixel_xy: Sequence[float],
    intrinsic: np.ndarray,
    extrinsic_cv: np.ndarray,
    image_size: tuple[int, int],
    plane_z: float = 0.0,
    workspace: bool = True,
) -> np.ndarray:
    """Map a pixel (x right, y down) to the world point where its ray meets the plane z = plane_z.

    intrinsic is the (3, 3) OpenCV camera matrix and extrinsic_cv the (3, 4) world-to-camera
    transform [R | t], both from ManiSkill's obs["sensor_param"]. image_size is (height, width).
    Raises InputError for pixels outside the image, rays that miss the plane, or (with
    workspace=True) points off the reachable part of the table.
    """
    height, width = image_size
    u, v = float(pixel_xy[0]), float(pixel_xy[1])
    if not (0 <= u < width and 0 <= v < height):
        raise InputError(f"pixel ({u:.0f}, {v:.0f}) is outside the {width}x{height} image")
    K = np.asarray(intrinsic, dtype=np.float64).reshape(3, 3)
    E = np.asarray(extrinsic_cv, dtype=np.float64).reshape(3, 4)
    R, t = E[:, :3], E[:, 3]
    center = -R.T @ t  # camera centre in the world
    # Pixel centres sit at +0.5 in OpenCV's convention.
    ray = R.T @ np.linalg.solve(K, np.array([u + 0.5, v + 0.5, 1.0]))
    if abs(ray[2]) < 1e-9 or (plane_z - center[2]) / ray[2] <= 0:
        raise InputError(f"pixel ({u:.0f}, {v:.0f}) looks above the horizon; click on the table")
    point = center + ray * (plane_z - center[2]) / ray[2]
    if workspace and not (
        WORKSPACE_X[0] <= point[0] <= WORKSPACE_X[1] and WORKSPACE_Y[0] <= point[1] <= WORKSPACE_Y[1]
    ):
        raise InputError(
            f"pixel ({u:.0f}, {v:.0f}) maps to table point x={point[0]:.2f}, y={point[1]:.2f} m, "
            f"outside the reachable workspace x in {WORKSPACE_X}, y in {WORKSPACE_Y}"
        )
    return point


def world_to_pixel(point_xyz: Sequence[float], intrinsic: np.ndarray, extrinsic_cv: np.ndarray) -> np.ndarray:
    """Project a world point to pixel coordinates (x right, y down); the inverse of pixel_to_table."""
    K = np.asarray(intrinsic, dtype=np.float64).reshape(3, 3)
    E = np.asarray(extrinsic_cv, dtype=np.float64).reshape(3, 4)
    cam = E[:, :3] @ np.asarray(point_xyz, dtype=np.float64) + E[:, 3]
    uvw = K @ cam
    return uvw[:2] / uvw[2] - 0.5


def in_workspace(point_xy: Sequence[float]) -> bool:
    return WORKSPACE_X[0] <= point_xy[0] <= WORKSPACE_X[1] and WORKSPACE_Y[0] <= point_xy[1] <= WORKSPACE_Y[1]


def stroke_to_table(
    pixels,
    intrinsic: np.ndarray,
    extrinsic_cv: np.ndarray,
    image_size: tuple[int, int],
    spacing_m: float = 0.03,
) -> tuple[np.ndarray, bool]:
    """A stroke drawn on the image (pixels (N, 2), x right, y down) as a path on the table.

    Returns (points (M, 2) world x, y, resampled every spacing_m along the stroke, its last point
    included; cut), where cut says the stroke left the reachable table and was cut where it crossed
    the workspace's edge. Raises InputError for a stroke with no points or one that starts off the table.
    """
    try:
        pts = np.asarray(pixels, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("a stroke must be a list of [x, y] pixel points") from None
    if pts.size == 0:
        raise InputError("the stroke has no points: press, drag and release on the simulator image")
    if pts.ndim != 2 or pts.shape[1] != 2 or not np.isfinite(pts).all():
        raise InputError(f"a stroke must be a list of finite [x, y] pixel points; got shape {pts.shape}")
    if not 0 < spacing_m <= 0.2:
        raise InputError(f"spacing_m must be in (0, 0.2]; got {spacing_m}")
    table, cut = [], False
    for pixel in pts:
        try:
            point = pixel_to_table(pixel, intrinsic, extrinsic_cv, image_size, workspace=False)[:2]
        except InputError:  # off the image or above the horizon: the stroke has left the table
            cut = True
            break
        if not in_workspace(point):
            if not table:
                raise InputError(
                    f"the stroke starts at table point x={point[0]:.2f}, y={point[1]:.2f} m, outside the reachable workspace "
                    f"x in {WORKSPACE_X}, y in {WORKSPACE_Y}; start it on the table"
                )
            table.append(_edge_crossing(table[-1], point))
            cut = True
            break
        table.append(point)
    if not table:
        raise InputError("the stroke starts off the table (outside the image or above the horizon); start it on the table")
    return _resample(np.asarray(table), spacing_m), cut


def _edge_crossing(inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Where the segment from an inside point to an outside one leaves the workspace rectangle."""
    t = 1.0
    for axis, (lo, hi) in enumerate((WORKSPACE_X, WORKSPACE_Y)):
        d = outside[axis] - inside[axis]
        if outside[axis] > hi:
            t = min(t, (hi - inside[axis]) / d)
        elif outside[axis] < lo:
            t = min(t, (lo - inside[axis]) / d)
    return inside + t * (outside - inside)


def _resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points (N, 2) every `spacing` of arc length from the first (included), and the last point."""
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(lengths)])
    if arc[-1] < 1e-9:
        return points[:1]
    stops = np.arange(0.0, arc[-1], spacing)
    if arc[-1] - stops[-1] < spacing * 0.25 and len(stops) > 1:
        stops = stops[:-1]  # the end is close to the last stop: keep the end instead
    stops = np.append(stops, arc[-1])
    return np.stack([np.interp(stops, arc, points[:, k]) for k in range(2)], axis=1)
