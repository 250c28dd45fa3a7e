"""The one env interface of the studio: the ManiSkill simulator and the PhysGen world model both
implement `Env` (DIAMOND's pattern), so a loop can step a list of envs with the same actions.

`step(actions)` takes (T, 7) or (7,) pd_ee_delta_pose actions and returns an `EnvStep` with one
frame per chunk of `chunk` control steps: frames[i] is the frame at the end of chunk i. A trailing
partial chunk still gives a frame: the world model completes it with hold steps (`padded_steps`),
the simulator stops at its end (it has no notion of padding). Callers that keep both envs aligned
pad their actions to whole chunks first (`physgen.actions.space.pad_to_chunks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class EnvObservation(Protocol):
    """What any env shows after a reset or a step."""

    frame: np.ndarray  # (H, W, 3) uint8
    elapsed_steps: int  # control steps since reset


@dataclass
class EnvStep:
    """The outcome of stepping an env with T actions (n_chunks = ceil(T / chunk))."""

    frames: np.ndarray  # (n_chunks, H, W, 3) uint8, one frame at the end of each chunk
    observation: Any  # the env's EnvObservation after the last step (physgen.sim.simulator.Observation has more)
    padded_steps: int = 0  # hold steps the env added to complete the last chunk
    # Simulator only (None from the world model, which imagines pixels, not state):
    ee_poses: np.ndarray | None = None  # (T, 7) tool-centre pose after every control step: paths need each step
    object_pixels: dict[str, np.ndarray] | None = None  # name -> (n_chunks,) visible pixels at the end of each chunk
    object_masks: np.ndarray | None = None  # (n_chunks, H, W) bool, tracked-object pixels at the end of each chunk

    @property
    def frame(self) -> np.ndarray:
        return self.observation.frame


@runtime_checkable
class Env(Protocol):
    """reset to a scene and seed; step with actions; a restorable state for forking."""

    @property
    def chunk(self) -> int: ...  # control steps per returned frame

    def reset(self, scene: str, seed: int = 0) -> EnvObservation: ...

    def step(self, actions) -> EnvStep: ...

    def get_state(self) -> Any: ...  # an opaque snapshot of everything that decides future steps

    def set_state(self, state) -> EnvObservation: ...  # return to a snapshot from get_state


def chunk_ends(num_steps: int, chunk: int) -> list[int]:
    """Indices (0-based control steps) whose frames an EnvStep keeps: each chunk's last step, and
    the last step of a trailing partial chunk."""
    ends = list(range(chunk - 1, num_steps, chunk))
    if num_steps % chunk:
        ends.append(num_steps - 1)
    return ends
