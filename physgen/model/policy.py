"""PhysGen as a policy (LeRobot's `select_action` with an action queue), kept apart from the env.

Each plan: the world model imagines the next frame, then its Action-DiT proposes the L-MTP block
that reaches it, (lmtp, L, 7). The first chunk fills the action queue and is executed action by
action; the rest of the block is the lookahead that conditions the next plan. When the queue runs
empty, the next `select_action(observation)` first shows the model the frame its chunk reached
(the real one from the simulator, or the imagined one without it), then plans again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from physgen.env import EnvObservation
from physgen.errors import InputError
from physgen.model.world_env import WorldModelEnv


@dataclass
class Plan:
    actions: np.ndarray  # (L, 7) the chunk queued for execution
    imagined: np.ndarray  # (H, W, 3) uint8 the frame the model expects after it
    lookahead: np.ndarray  # (lmtp - 1, L, 7) the rest of the L-MTP block


class WorldModelPolicy:
    def __init__(self, world: WorldModelEnv):
        if not isinstance(world, WorldModelEnv):
            raise InputError(f"WorldModelPolicy needs a physgen.model.world_env.WorldModelEnv; got {type(world).__name__}")
        self.world = world
        self.reset()

    def reset(self) -> None:
        """Forget the queue, the lookahead and the last plan (after the env was reset or stepped by others)."""
        self._queue: deque[np.ndarray] = deque()
        self._lookahead = None  # (1, (lmtp - 1) * L, 7) tensor on the model's device
        self._executed: np.ndarray | None = None  # the chunk being executed, shown to the model when it ends
        self._plan_steps: int | None = None  # the world's elapsed steps when the plan was made
        self.last_plan: Plan | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def select_action(self, observation: EnvObservation) -> np.ndarray:
        """The next action (7,). `observation` is the state reached by the actions selected so far."""
        if not self._queue:
            self._plan(observation)
        return self._queue.popleft()

    def select_chunk(self, observation: EnvObservation) -> np.ndarray:
        """The whole next chunk (L, 7): select_action L times."""
        return np.stack([self.select_action(observation) for _ in range(self.world.chunk)])

    def observe(self, observation: EnvObservation) -> None:
        """Show the model the frame its executed chunk reached, now rather than at the next plan
        (e.g. to save the world model's state at that boundary). Does nothing while actions remain queued."""
        if self._queue:
            return
        if self._plan_steps is not None and self.world.elapsed_steps != self._plan_steps:
            self.reset()  # someone else stepped or reset the env: the lookahead no longer applies
        if self._executed is not None:
            self.world.observe(np.asarray(observation.frame), self._executed)
            self._executed, self._plan_steps = None, self.world.elapsed_steps

    def _plan(self, observation: EnvObservation) -> None:
        world = self.world
        self.observe(observation)
        imagined = world.imagine()
        block = world.propose(imagined, self._lookahead)  # (lmtp, L, 7)
        self._lookahead = block[1:].reshape(1, -1, block.shape[-1]) if block.shape[0] > 1 else None
        block = block.cpu().numpy()
        self.last_plan = Plan(block[0], world.decode(imagined), block[1:])
        self._executed = block[0]
        self._queue.extend(block[0])
        self._plan_steps = world.elapsed_steps
