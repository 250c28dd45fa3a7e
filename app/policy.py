"""Policy mode ("Let PhysGen act"): the model proposes each action chunk and the simulator runs it."""

from __future__ import annotations

from app.callbacks import message_view, record_real, view
from app.gpu import gpu
from app.session import StudioSession
from physgen.control import commanded_path
from physgen.errors import InputError

MAX_POLICY_CHUNKS = 40


@gpu
def _act(world):
    return world.act()


@gpu
def _observe(world, frame, actions) -> None:
    world.observe(frame, actions)


def let_physgen_act(session: StudioSession | None, chunks):
    """Run up to `chunks` policy steps; stop early on success. Yields the studio view.

    Each step: PhysGen imagines the next frame and proposes the L-MTP block that reaches it (the first
    chunk runs, the rest conditions the next proposal); the simulator executes the chunk; PhysGen
    then observes the real frame. Without a simulator, PhysGen observes its own imagined frame."""
    if session is None or session.scene is None:
        yield message_view(session, "Load a scene first.")
        return
    if session.world is None:
        yield message_view(session, "Policy mode needs a PhysGen checkpoint, and none is loaded on this machine.")
        return
    try:
        n = int(chunks)
        if not 1 <= n <= MAX_POLICY_CHUNKS:
            raise ValueError
    except (TypeError, ValueError):
        yield message_view(session, f"the number of chunks must be an integer from 1 to {MAX_POLICY_CHUNKS}; got {chunks!r}")
        return
    session.targets.clear()
    start_steps = len(session.executed) - 1
    for i in range(1, n + 1):
        proposal = _act(session.world)
        session.predicted.append(proposal.imagined)
        yield view(session, f"Policy chunk {i}/{n}: PhysGen imagines the next frame (right) and proposes {len(proposal.actions)} actions; "
                   "the simulator runs them…")
        if session.sim is not None:
            try:
                result = session.sim.step(proposal.actions)
            except InputError as exc:  # the sampled actions left [-1, 1]: report, keep the session
                yield message_view(session, f"the proposed actions could not run: {exc}")
                return
            session.commanded.extend(commanded_path(session.executed[-1], proposal.actions)[1:])
            record_real(session, result)
            _observe(session.world, result.frame, proposal.actions)
        else:
            _observe(session.world, proposal.imagined, proposal.actions)
        session.actions.append(proposal.actions)
        if session.success:
            break
    steps = len(session.executed) - 1 - start_steps
    if session.sim is None:
        outcome = ""
    else:
        outcome = f" **Success** after {steps} control steps." if session.success else f" No success after {steps} control steps."
    yield view(session, f"PhysGen acted for {i} chunk(s).{outcome}")
