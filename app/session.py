"""Per-user session state, kept in gr.State (never in module globals).

The episode is stored per chunk boundary: frames, the saved env states (to fork at any chunk) and
the divergence. It is capped at MAX_EPISODE_CHUNKS chunks: the oldest are dropped, so a long
session's memory stays flat. Chunk numbers on the page are absolute (counted since the scene was
loaded); `dropped` says how many of the first ones are gone.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from physgen.actions.language import actions_to_text
from physgen.actions.space import GRIPPER_OPEN
from physgen.errors import SimulatorUnavailable
from physgen.sim.simulator import Simulator

MAX_EPISODE_CHUNKS = 100  # chunk boundaries kept per branch: about 50 KB of frames and a few KB of states each


@dataclass
class Branch:
    """The first branch of a fork, frozen where it was when the user forked (it plays next to the new one)."""

    fork_chunk: int  # the chunk both branches share
    dropped: int  # chunks dropped before the first kept one
    real: list[np.ndarray]
    predicted: list[np.ndarray]
    divergence: list[dict]
    actions: list[np.ndarray]
    texts: list[tuple[str, int]]
    dropped_actions: list[np.ndarray]  # the chunks the cap dropped before the fork

    def frame(self, frames: list[np.ndarray], chunk: int):
        index = min(chunk - self.dropped, len(frames) - 1)
        return frames[index] if frames and index >= 0 else None


@dataclass
class StudioSession:
    sim: Simulator | None = None  # leased from the env pool on scene load; one ManiSkill env per session
    scene: str | None = None
    seed: int | None = None
    sim_error: str | None = None  # set when the simulator cannot start on this machine
    world: object | None = None  # this session's physgen.model.world_env.WorldModelEnv (own KV cache)
    # One entry per kept chunk boundary; the first is chunk `dropped` (0: the first frame).
    real: list[np.ndarray] = field(default_factory=list)  # simulator frames (empty without a simulator)
    predicted: list[np.ndarray] = field(default_factory=list)  # PhysGen's frames (chunk 0: the real first frame)
    states: list[tuple] = field(default_factory=list)  # (SimState | None, WorldState | None) per boundary, for forking
    divergence: list[dict] = field(default_factory=list)  # per predicted chunk: chunk (absolute), psnr, ssim
    # One entry per control step (plus the start) for the trajectory plot.
    executed: list[np.ndarray] = field(default_factory=list)  # (3,) gripper positions, simulator
    commanded: list[np.ndarray] = field(default_factory=list)  # (3,) positions the commands ask for
    actions: list[np.ndarray] = field(default_factory=list)  # (L, 7) chunks executed, for export; actions[i] leads out of boundary i
    # The chunks the cap dropped (224 bytes each): export still writes them, so that the actions
    # file replays the whole episode from the scene's start.
    dropped_actions: list[np.ndarray] = field(default_factory=list)
    # (program, control steps) in the order run: typed, preset, clicked, dragged or driven ones as
    # typed, policy chunks and a program's padding as raw steps. They cover every step from the
    # scene's start, so an export's text replays the episode.
    texts: list[tuple[str, int]] = field(default_factory=list)
    targets: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # clicked (pixel, world target)
    success: bool = False
    policy: object | None = None  # physgen.model.policy.WorldModelPolicy around `world`, made on the first policy run
    dropped: int = 0  # chunks dropped from the front by the cap
    other: Branch | None = None  # after "Fork here": the first branch, played next to this one
    gripper: float = GRIPPER_OPEN  # the gripper command held between programs and drive presses
    # The queue runs several requests at once; this keeps one session's requests (a Run and a drive
    # press, say) from stepping its simulator together. Other sessions never wait on it. A plain Lock,
    # not an RLock: Gradio resumes a streaming callback on whichever worker thread is free, so the
    # thread that releases it may not be the one that took it. Callbacks therefore never nest.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    last_used: float = field(default_factory=time.monotonic)  # for releasing idle simulators
    # (pool, SimState) while the simulator is given back for idleness (app.idle); the next request resumes it.
    parked: tuple | None = None

    @property
    def envs(self) -> list:
        """The envs a chunk steps, in order: PhysGen first (it is fast), then the simulator."""
        return [env for env in (self.world, self.sim) if env is not None]

    def clear_episode(self) -> None:
        for name in ("real", "predicted", "states", "divergence", "executed", "commanded", "actions", "dropped_actions", "texts", "targets"):
            getattr(self, name).clear()
        self.success, self.policy, self.dropped, self.other, self.gripper = False, None, 0, None, GRIPPER_OPEN

    @property
    def num_chunks(self) -> int:
        """The absolute number of the last chunk boundary."""
        return self.dropped + max(len(self.real), len(self.predicted)) - 1

    def index(self, chunk: int) -> int:
        """List index of absolute chunk `chunk` in the per-boundary lists."""
        return chunk - self.dropped

    def save_boundary(self) -> None:
        """Record the envs' states at the boundary just reached, then apply the cap."""
        self.states.append((self.sim.get_state() if self.sim is not None else None,
                            self.world.get_state() if self.world is not None else None))
        self.cap()

    def cap(self, limit: int | None = None) -> int:
        """Drop the oldest chunks beyond `limit` boundaries (MAX_EPISODE_CHUNKS); returns how many were dropped now."""
        limit = MAX_EPISODE_CHUNKS if limit is None else limit
        extra = max(len(self.real), len(self.predicted), len(self.states)) - limit
        if extra <= 0:
            return 0
        steps = sum(len(a) for a in self.actions[:extra])
        self.dropped_actions.extend(self.actions[:extra])
        for name in ("real", "predicted", "states", "actions"):
            del getattr(self, name)[:extra]
        del self.executed[:steps], self.commanded[:steps]
        self.dropped += extra
        self.divergence[:] = [d for d in self.divergence if d["chunk"] >= self.dropped]
        return extra

    def add_program(self, text: str, actions: np.ndarray, pad: int = 0) -> None:
        """Record the program `text` that runs as `actions` (T, 7), the last `pad` of them the hold
        steps that complete its last chunk; the held gripper becomes the program's last."""
        self.texts.append((text, len(actions) - pad))
        if pad:
            self.texts.append((actions_to_text(actions[-pad:]), pad))
        self.gripper = float(actions[-1, 6])

    def fork(self, chunk: int) -> None:
        """Keep the episode as branch A and cut this one back to `chunk` (the caller restores the envs)."""
        i = self.index(chunk)
        self.other = Branch(chunk, self.dropped, list(self.real), list(self.predicted), list(self.divergence), list(self.actions),
                            list(self.texts), list(self.dropped_actions))
        kept_actions = self.dropped_actions + self.actions[:i]
        self.texts[:] = _programs_covering(self.texts, np.concatenate(kept_actions) if kept_actions else np.zeros((0, 7)))
        self.gripper = float(kept_actions[-1][-1, 6]) if kept_actions else GRIPPER_OPEN
        keep = 1 + sum(len(a) for a in self.actions[:i])  # positions: the boundary's own, then one per step
        for name in ("real", "predicted", "states"):
            del getattr(self, name)[i + 1 :]
        del self.actions[i:], self.executed[keep:], self.commanded[keep:]
        self.divergence[:] = [d for d in self.divergence if d["chunk"] <= chunk]
        self.targets.clear()
        self.policy = None

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def park(self, pool) -> None:
        """Give the simulator back to `pool` and remember where it was; the episode stays as it is."""
        state = self.sim.get_state()
        pool.release(self.sim)
        self.sim, self.parked = None, (pool, state)

    def resume(self) -> None:
        """After park: take a simulator again (a ready one of the scene, when the pool has it) and
        restore the parked state, so the next chunk continues from where the user left it."""
        if self.parked is None:
            return
        pool, state = self.parked
        self.parked = None
        try:
            sim = pool.acquire(state.scene)
            sim.set_state(state)
        except SimulatorUnavailable as exc:
            self.sim_error = str(exc)
            return
        self.sim = sim

    def close(self) -> None:
        if self.sim is not None:
            self.sim.close()
            self.sim = None


def _programs_covering(programs: list[tuple[str, int]], actions: np.ndarray) -> list[tuple[str, int]]:
    """The (program, steps) entries that cover the first len(actions) steps: whole programs while
    they fit, then the part of the one cut by a fork as raw steps."""
    kept, done = [], 0
    for text, steps in programs:
        if done + steps > len(actions):
            break
        kept.append((text, steps))
        done += steps
    if done < len(actions):
        kept.append((actions_to_text(actions[done:]), len(actions) - done))
    return kept


def one_at_a_time(callback):
    """Run a callback whose first argument is the session under that session's lock. A streaming
    (generator) callback holds it until its last update, and stays a generator for Gradio. Every such
    request counts as use (app.idle), and first takes back a simulator parked for idleness."""
    if inspect.isgeneratorfunction(callback):

        @functools.wraps(callback)
        def serialized_stream(session, *args, **kwargs):
            if session is None:
                yield from callback(session, *args, **kwargs)
                return
            with session.lock:
                _begin(session)
                try:
                    yield from callback(session, *args, **kwargs)
                finally:
                    session.touch()

        return serialized_stream

    @functools.wraps(callback)
    def serialized(session, *args, **kwargs):
        if session is None:
            return callback(session, *args, **kwargs)
        with session.lock:
            _begin(session)
            try:
                return callback(session, *args, **kwargs)
            finally:
                session.touch()

    return serialized


def _begin(session: StudioSession) -> None:
    session.touch()
    session.resume()
