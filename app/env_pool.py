"""A small pool of ready simulators, so that a new session's first scene load is a reset, not a
ManiSkill env creation (~4-10 s).

The pool is a server resource like the shared model, not user state: a simulator is leased to one
session at a time (`acquire`), and the session gives it back when it switches scene, closes, or
sits idle (`release`, from gr.State's delete callback). After each lease the pool makes a
replacement in a background thread, so the next session finds one ready.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass

from physgen.errors import InputError, SimulatorUnavailable
from physgen.sim.simulator import SimConfig


@dataclass(frozen=True)
class PoolConfig:
    per_scene: int = 1  # ready simulators kept per scene (each holds one ManiSkill env, ~100-200 MB)

    def __post_init__(self):
        if not isinstance(self.per_scene, int) or not 0 <= self.per_scene <= 8:
            raise InputError(f"per_scene must be an int in [0, 8]; got {self.per_scene!r}")


class EnvPool:
    def __init__(self, factory, chunk_len: int, config: PoolConfig | None = None):
        self.factory = factory  # Simulator (or a stand-in with its interface), called with a SimConfig
        self.sim_config = SimConfig(chunk_len=chunk_len)
        self.config = config or PoolConfig()
        self._ready: dict[str, list] = {}
        self._filling: set[str] = set()
        self._lock = threading.Lock()
        self._filled = threading.Condition(self._lock)  # notified when a scene's fill ends

    def acquire(self, scene: str):
        """A simulator for `scene`: a ready one (already holding the scene's env), else a new one."""
        with self._lock:
            ready = self._ready.get(scene, [])
            sim = ready.pop() if ready else None
        self.refill(scene)
        return sim if sim is not None else self.factory(self.sim_config)

    def release(self, sim) -> None:
        """Take back a simulator no session uses any more: keep it ready, or close it when full."""
        scene = sim.scene.env_id if sim.scene is not None else None
        with self._lock:
            ready = self._ready.setdefault(scene, []) if scene else None
            if ready is not None and len(ready) < self.config.per_scene:
                ready.append(sim)
                return
        sim.close()

    def ready_count(self, scene: str) -> int:
        with self._lock:
            return len(self._ready.get(scene, []))

    def refill(self, scene: str, wait: bool = False) -> None:
        """Make ready simulators of `scene` up to per_scene, in a background thread (or here, with wait)."""
        with self._lock:
            while wait and scene in self._filling:  # a fill under way: wait for it, then top up
                self._filled.wait()
            if scene in self._filling or len(self._ready.get(scene, [])) >= self.config.per_scene:
                return
            self._filling.add(scene)
        if wait:
            self._fill(scene)
        else:
            threading.Thread(target=self._fill, args=(scene,), daemon=True, name=f"env-pool-{scene}").start()

    def prewarm(self, scenes) -> threading.Thread:
        """Fill the pool for each scene, one after the other, in a background thread (server start)."""
        def fill_all():
            for scene in scenes:
                self.refill(scene, wait=True)

        thread = threading.Thread(target=fill_all, daemon=True, name="env-pool-prewarm")
        thread.start()
        return thread

    def _fill(self, scene: str) -> None:
        try:
            while self.ready_count(scene) < self.config.per_scene:
                sim = self.factory(self.sim_config)
                sim.reset(scene, 0)  # creates the ManiSkill env: the slow part
                with self._lock:
                    self._ready.setdefault(scene, []).append(sim)
        except SimulatorUnavailable:
            pass  # the page says so when a session loads the scene
        finally:
            with self._lock:
                self._filling.discard(scene)
                self._filled.notify_all()


@functools.lru_cache(maxsize=4)
def shared_pool(factory, chunk_len: int) -> EnvPool:
    """The server's pool for simulators made by `factory` with chunks of `chunk_len` steps.
    PHYSGEN_ENV_POOL sets how many ready simulators it keeps per scene (default 1; 0 turns it off)."""
    return EnvPool(factory, chunk_len, PoolConfig(per_scene=int(os.environ.get("PHYSGEN_ENV_POOL", "1"))))
