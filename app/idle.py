"""Idle sessions give their simulator back and keep their episode (issue 10: bounded, long sessions).

A session that has made no request for SIMULATOR_IDLE_S returns its ManiSkill env to the pool
(a few hundred MB each), remembering the env's state. Its frames, plots, scrubber and PhysGen's
history stay, so the user who comes back can scrub and export at once; the next request takes a
simulator again and restores that state (StudioSession.park / resume). The whole session is only
deleted later, by gr.State's time to live (app.layout.SESSION_TTL_S).
"""

from __future__ import annotations

import functools
import threading
import time
import weakref

from app.env_pool import shared_pool

SIMULATOR_IDLE_S = 900  # seconds without a request before a session's simulator goes back to the pool
CHECK_EVERY_S = 60


class IdleSimulators:
    """Watches the sessions that hold a simulator. Sessions are held weakly: a deleted one drops out."""

    def __init__(self, idle_s: float = SIMULATOR_IDLE_S, check_every_s: float = CHECK_EVERY_S):
        self.idle_s, self.check_every_s = idle_s, check_every_s
        self._sessions: dict[int, weakref.ref] = {}  # id -> session (a dataclass, so not hashable itself)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, session) -> None:
        """Park `session`'s simulator once it sits idle (from a background thread, started on first use)."""
        with self._lock:
            self._sessions[id(session)] = weakref.ref(session)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="idle-simulators")
                self._thread.start()

    def park_idle(self, now: float | None = None) -> int:
        """Park the simulators of sessions idle for idle_s; returns how many were parked. A session
        whose request is running (its lock is held) is left alone."""
        now = time.monotonic() if now is None else now
        with self._lock:
            sessions = [ref() for ref in self._sessions.values()]
            self._sessions = {key: ref for key, ref in self._sessions.items() if ref() is not None}
        parked = 0
        for session in sessions:
            if session is None or session.sim is None or now - session.last_used < self.idle_s:
                continue
            if not session.lock.acquire(blocking=False):
                continue
            try:
                if session.sim is not None and now - session.last_used >= self.idle_s:
                    session.park(shared_pool(type(session.sim), session.sim.chunk))
                    parked += 1
            finally:
                session.lock.release()
        return parked

    def _run(self) -> None:
        while True:
            time.sleep(self.check_every_s)
            self.park_idle()


@functools.lru_cache(maxsize=1)
def idle_simulators() -> IdleSimulators:
    """The server's watcher (one, like the env pool)."""
    return IdleSimulators()
