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
    sim_error: str | None = None  # set when the simulator cannot start on this machine
    world: object | None = None  # this session's physgen.world_env.WorldModelEnv (own KV cache)
    # One entry per chunk boundary since the scene was loaded; index 0 is the first frame.
    real: list[np.ndarray] = field(default_factory=list)  # simulator frames (empty without a simulator)
    predicted: list[np.ndarray] = field(default_factory=list)  # PhysGen's frames (index 0: the real first frame)
    divergence: list[dict] = field(default_factory=list)  # per predicted chunk: chunk, psnr, ssim
    # One entry per control step (plus the start) for the trajectory plot.
    executed: list[np.ndarray] = field(default_factory=list)  # (3,) gripper positions, simulator
    commanded: list[np.ndarray] = field(default_factory=list)  # (3,) positions the commands ask for
    actions: list[np.ndarray] = field(default_factory=list)  # (L, 7) chunks executed, for export
    texts: list[str] = field(default_factory=list)  # programs run (typed, preset or clicked)
    targets: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # clicked (pixel, world target)
    success: bool = False
    policy: object | None = None  # physgen.policy.WorldModelPolicy around `world`, made on the first policy run

    @property
    def envs(self) -> list:
        """The envs a chunk steps, in order: PhysGen first (it is fast), then the simulator."""
        return [env for env in (self.world, self.sim) if env is not None]

    def clear_episode(self) -> None:
        for name in ("real", "predicted", "divergence", "executed", "commanded", "actions", "texts", "targets"):
            getattr(self, name).clear()
        self.success, self.policy = False, None

    @property
    def num_chunks(self) -> int:
        return max(len(self.real), len(self.predicted)) - 1

    def close(self) -> None:
        if self.sim is not None:
            self.sim.close()
            self.sim = None
