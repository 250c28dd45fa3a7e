"""Policy mode ("Let PhysGen act"): the model proposes each action chunk and the simulator runs it."""

from __future__ import annotations

import numpy as np

from app.callbacks import message_view, record_real, view
from app.gpu import gpu
from app.session import StudioSession, one_at_a_time
from physgen.actions.language import actions_to_text
from physgen.actions.space import commanded_path
from physgen.errors import InputError
from physgen.model.policy import WorldModelPolicy
from physgen.model.world_env import WorldObservation

MAX_POLICY_CHUNKS = 40


@gpu
def _select_chunk(policy: WorldModelPolicy, observation) -> np.ndarray:
    return policy.select_chunk(observation)


@gpu
def _observe(policy: WorldModelPolicy, observation) -> None:
    policy.observe(observation)


@one_at_a_time
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
    if session.policy is None or session.policy.world is not session.world:
        session.policy = WorldModelPolicy(session.world)
    policy = session.policy
    start_steps = len(session.executed) - 1
    # What the chunk selected last reached: the real frame, or PhysGen's own without a simulator.
    observation = WorldObservation(session.real[-1] if session.sim is not None else session.predicted[-1], session.world.elapsed_steps)
    for i in range(1, n + 1):
        actions = _select_chunk(policy, observation)
        session.predicted.append(policy.last_plan.imagined)
        yield view(session, f"Policy chunk {i}/{n}: PhysGen imagines the next frame (right) and proposes {len(actions)} actions; "
                   "the simulator runs them…", plots=False)
        if session.sim is not None:
            try:
                result = session.sim.step(actions)
            except InputError as exc:  # the sampled actions left [-1, 1]: report, keep the session
                yield message_view(session, f"the proposed actions could not run: {exc}")
                return
            session.commanded.extend(commanded_path(session.executed[-1], actions)[1:])
            record_real(session, result)
            observation = result.observation
        else:
            observation = WorldObservation(policy.last_plan.imagined, session.world.elapsed_steps + len(actions))
        session.actions.append(actions)
        session.add_program(actions_to_text(actions), actions)
        _observe(policy, observation)  # the boundary's saved world state includes the frame reached
        session.save_boundary()
        if session.success:
            break
    steps = len(session.executed) - 1 - start_steps
    if session.sim is None:
        outcome = ""
    else:
        outcome = f" **Success** after {steps} control steps." if session.success else f" No success after {steps} control steps."
    yield view(session, f"PhysGen acted for {i} chunk(s).{outcome}")
