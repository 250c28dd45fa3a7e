"""Per-user session state, kept in gr.State (never in module globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from physgen.sim import Simulator


@dataclass
class StudioSession:
    sim: Simulator | None = None  # created on the first scene load; one ManiSkill env per session
    scene: str | None = None
    seed: int | None = None
    frames: list[np.ndarray] = field(default_factory=list)  # simulator frames since the last load
    sim_error: str | None = None  # set when the simulator cannot start on this machine
    world: object | None = None  # this session's physgen.world_env.WorldModelEnv (own KV cache)
    predicted: list[np.ndarray] = field(default_factory=list)  # predicted frames, one per chunk

    def close(self) -> None:
        if self.sim is not None:
            self.sim.close()
            self.sim = None
