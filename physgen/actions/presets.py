"""Preset moves: common manipulation moves written in the action language.

Each preset turns the gripper's and the scene objects' current positions into typed commands, so the
user sees (and can edit) exactly what will run, and the preview table, the simulator and the world
model all get the same actions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from physgen.actions.language import move_command
from physgen.errors import InputError

APPROACH_HEIGHT = 0.08  # metres above the object's centre before descending
PUSH_OFFSET = 0.06  # start a push this far behind the object's centre
PUSH_DISTANCE = 0.10
TABLE_CLEARANCE = 0.015  # centre height of the fingers when pushing or grasping a 4 cm cube


def _reach(ee: np.ndarray, obj: np.ndarray) -> list[str]:
    above = np.array([obj[0], obj[1], obj[2] + APPROACH_HEIGHT])
    down = np.array([obj[0], obj[1], max(obj[2], TABLE_CLEARANCE)])
    return [move_command(above - ee), move_command(down - above)]


def _push(ee: np.ndarray, obj: np.ndarray, direction: np.ndarray) -> list[str]:
    start = obj - direction * PUSH_OFFSET
    above = np.array([start[0], start[1], obj[2] + APPROACH_HEIGHT])
    low = np.array([start[0], start[1], TABLE_CLEARANCE])
    end = low + direction * (PUSH_OFFSET + PUSH_DISTANCE)
    return ["close", move_command(above - ee), move_command(low - above), move_command(end - low), "up 8cm"]


PRESETS: dict[str, Callable[[np.ndarray, np.ndarray], list[str]]] = {
    "Reach the object": _reach,
    "Grasp and lift": lambda ee, obj: ["open", *_reach(ee, obj), "close", "up 10cm"],
    "Push it right": lambda ee, obj: _push(ee, obj, np.array([0.0, 1.0, 0.0])),
    "Push it toward the camera": lambda ee, obj: _push(ee, obj, np.array([1.0, 0.0, 0.0])),
    "Wave": lambda ee, obj: ["left 5cm", "right 10cm", "left 5cm"],
}


def preset_text(name: str, ee_xyz, objects: Mapping[str, np.ndarray]) -> str:
    """The commands of preset `name`, from the gripper at ee_xyz to the scene's first object."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    if not objects:
        raise InputError("this scene has no tracked object to move to")
    obj = np.asarray(next(iter(objects.values())), dtype=np.float64)
    return "\n".join(PRESETS[name](np.asarray(ee_xyz, dtype=np.float64), obj))
