"""A stand-in for physgen.sim.simulator.Simulator with its interface and result types, without ManiSkill.

The gripper follows the commanded deltas at the measured tracking (physgen.actions.space), the scene's
objects stand still, and the frame is a grey image with a dark square where the gripper is: enough
for the studio callbacks to run in `make test-fast`. Physics (pushing, grasping) and the camera
geometry are the real simulator's tests (tests/test_app_callbacks.py, tests/test_sim.py)."""

from __future__ import annotations

import numpy as np

from physgen import IMAGE_SIZE
from physgen.actions.space import EFFECTIVE_METERS_PER_UNIT, validate_actions
from physgen.env import EnvStep, chunk_ends
from physgen.errors import InputError
from physgen.sim.scenes import SceneSpec, get_scene
from physgen.sim.simulator import Observation, SimConfig, SimState, validate_seed

START = np.array([0.0, 0.0, 0.2])  # the gripper's position after a reset (m)


class FakeSimulator:
    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self._spec: SceneSpec | None = None
        self._seed: int | None = None
        self._elapsed = 0
        self._ee = START.copy()

    def reset(self, scene: str, seed: int = 0) -> Observation:
        self._spec, self._seed = get_scene(scene), validate_seed(seed)
        self._elapsed, self._ee = 0, START.copy()
        return self._observation()

    @property
    def chunk(self) -> int:
        return self.config.chunk_len

    def step(self, actions) -> EnvStep:
        self._require_reset()
        acts = validate_actions(actions)
        keep = set(chunk_ends(len(acts), self.chunk))
        kept, poses = [], []
        for i, action in enumerate(acts):
            self._ee = self._ee + action[:3].astype(np.float64) * EFFECTIVE_METERS_PER_UNIT
            self._elapsed += 1
            poses.append(np.array([*self._ee, 1, 0, 0, 0], np.float32))
            if i in keep:
                kept.append(self._observation())
        names = self._spec.objects
        return EnvStep(
            frames=np.stack([o.frame for o in kept]),
            observation=kept[-1],
            ee_poses=np.stack(poses),
            object_pixels={n: np.array([o.object_pixels[n] for o in kept]) for n in names},
            object_masks=np.stack([o.object_mask for o in kept]),
        )

    def get_state(self) -> SimState:
        self._require_reset()
        return SimState(self._spec.env_id, self._seed, self._elapsed, {"ee": self._ee.copy()})

    def set_state(self, snapshot: SimState) -> Observation:
        if not isinstance(snapshot, SimState):
            raise InputError(f"set_state needs a SimState from get_state(); got {type(snapshot).__name__}")
        self._spec, self._seed, self._elapsed = get_scene(snapshot.scene), snapshot.seed, snapshot.elapsed_steps
        self._ee = snapshot.state["ee"].copy()
        return self._observation()

    def close(self) -> None:
        self._spec = None

    @property
    def scene(self) -> SceneSpec | None:
        return self._spec

    @property
    def seed(self) -> int | None:
        return self._seed

    @property
    def ee_position(self) -> np.ndarray:
        self._require_reset()
        return self._ee.copy()

    @property
    def object_positions(self) -> dict[str, np.ndarray]:
        self._require_reset()
        return {name: np.array([0.05 * i, 0.0, 0.02]) for i, name in enumerate(self._spec.objects)}

    def _observation(self) -> Observation:
        frame = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), 180, np.uint8)
        # The gripper as a dark square that moves with it: x forward is down, y right is right.
        row, col = (np.clip(IMAGE_SIZE / 2 + self._ee[:2] * [200, 200], 4, IMAGE_SIZE - 5)).astype(int)
        frame[row - 4 : row + 4, col - 4 : col + 4] = (40, 40, 40)
        mask = np.zeros(frame.shape[:2], bool)
        pose = np.array([*self._ee, 1, 0, 0, 0], np.float32)
        return Observation(frame, pose, False, {name: 0 for name in self._spec.objects}, self._elapsed, None, mask)

    def _require_reset(self):
        if self._spec is None:
            raise InputError("call reset(scene, seed) first")
