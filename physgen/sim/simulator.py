"""The simulator: ManiSkill behind the studio's env interface (physgen.env.Env).

The PhysGen world-model env implements the same interface, so the app steps both with the same
actions and gets the same EnvStep back: one frame per chunk. Frames come from the studio camera at the model resolution; the segmentation of the same
camera gives, for every frame, how many pixels of each tracked object are visible (the ground
truth of the object-permanence probe).
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, replace

import numpy as np

from physgen import IMAGE_SIZE
from physgen.actions.space import CONTROL_MODE, DEFAULT_CHUNK_LEN, validate_actions
from physgen.env import EnvStep, chunk_ends
from physgen.errors import VULKAN_FIX, InputError, SimulatorUnavailable
from physgen.sim.camera import CAMERA_NAME, studio_sensor_configs
from physgen.sim.scenes import SCENES, SceneSpec, get_scene, register_scenes

MAX_SEED = 2**31 - 1
# Words in SAPIEN/Vulkan start-up errors that mean "no usable Vulkan device".
_VULKAN_ERROR_HINTS = ("vulkan", "vk::", "vk_", "physical device", "icd", "renderer", "render device")


def validate_seed(seed) -> int:
    """Return seed as an int, or raise InputError: seeds are integers 0 <= seed <= 2**31 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        if isinstance(seed, float) and seed.is_integer():
            seed = int(seed)
        elif isinstance(seed, str) and seed.strip().isdigit():
            seed = int(seed.strip())
        else:
            raise InputError(f"seed must be an integer >= 0; got {seed!r}")
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"seed must be an integer in [0, {MAX_SEED}]; got {seed}")
    return seed


@dataclass(frozen=True)
class SimConfig:
    image_size: int = IMAGE_SIZE  # studio camera frames, square, at the model resolution
    display_render: bool = False  # also render ManiSkill's 512 px third-person camera each step
    sim_backend: str = "physx_cpu"
    render_backend: str = "cpu"
    chunk_len: int = DEFAULT_CHUNK_LEN  # control steps per returned frame; the world model's chunk

    def __post_init__(self):
        if not isinstance(self.chunk_len, int) or self.chunk_len < 1:
            raise InputError(f"chunk_len must be an int >= 1; got {self.chunk_len!r}")
        if not isinstance(self.image_size, int) or not 32 <= self.image_size <= 512:
            raise InputError(f"image_size must be an int in [32, 512]; got {self.image_size!r}")
        if self.sim_backend not in ("physx_cpu", "physx_cuda"):
            raise InputError(f"sim_backend must be one of physx_cpu, physx_cuda; got {self.sim_backend!r}")


@dataclass
class Observation:
    """What the simulator shows after a reset or at the end of a step."""

    frame: np.ndarray  # (H, W, 3) uint8, studio camera
    ee_pose: np.ndarray  # (7,) float32, world frame [x y z qw qx qy qz] of the tool centre point
    success: bool
    object_pixels: dict[str, int]  # visible pixels of each tracked object (from segmentation)
    elapsed_steps: int  # control steps since reset
    display: np.ndarray | None = None  # (512, 512, 3) uint8 third-person render, if enabled
    object_mask: np.ndarray | None = None  # (H, W) bool, pixels of the tracked objects
    # The task's own grasp check (ManiSkill's info "is_grasped" / "is_cubeA_grasped"); None where
    # the task has none (PushCube), and after set_state, whose contacts are not simulated yet.
    # PickCube's goal is hidden from the camera, so a policy that sees only frames cannot aim for
    # it: grasping is what such a policy can be scored on there.
    grasped: bool | None = None


@dataclass
class SimState:
    """A restorable snapshot; restore it with Simulator.set_state."""

    scene: str
    seed: int
    elapsed_steps: int
    state: dict  # ManiSkill's state dict (torch tensors, copied)
    drive_targets: object = None  # the robot's joint drive targets, which the state dict omits


class Simulator:
    """Holds one ManiSkill env; loading another scene re-creates it (gym.make costs ~4 s)."""

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self._env = None
        self._spec: SceneSpec | None = None
        self._seed: int | None = None
        self._elapsed = 0
        self._object_ids: dict[str, list[int]] = {}
        self._camera: dict[str, np.ndarray] = {}

    # ----------------------------------------------------------------- interface
    def reset(self, scene: str, seed: int = 0) -> Observation:
        spec = get_scene(scene)
        seed = validate_seed(seed)
        if self._spec is None or spec.env_id != self._spec.env_id:
            self._open(spec)
        obs, info = self._env.reset(seed=seed)
        self._seed, self._elapsed = seed, 0
        self._object_ids = self._find_object_ids()
        observation = self._observation(obs, info)
        # ManiSkill's grasp check reads the contacts of the last simulated step, which at a reset
        # are the previous episode's; a fresh episode holds nothing.
        return replace(observation, grasped=False) if observation.grasped is not None else observation

    @property
    def chunk(self) -> int:
        return self.config.chunk_len

    def step(self, actions) -> EnvStep:
        """Execute one action (7,) or a chunk (T, 7); returns one frame per chunk (physgen.env)."""
        self._require_reset()
        chunk = validate_actions(actions)  # raises before touching the env, so it stays usable
        keep = set(chunk_ends(len(chunk), self.chunk))
        kept, poses = [], []
        for i, action in enumerate(chunk):
            if i not in keep:
                with self._unobserved():
                    self._env.step(action)
                self._elapsed += 1
                poses.append(self._tcp_pose())
                continue
            obs, _, _, _, info = self._env.step(action)
            self._elapsed += 1
            kept.append(self._observation(obs, info, with_display=i == len(chunk) - 1))
            poses.append(kept[-1].ee_pose)
        names = list(self._spec.objects)
        return EnvStep(
            frames=np.stack([o.frame for o in kept]),
            observation=kept[-1],
            ee_poses=np.stack(poses),
            object_pixels={n: np.array([o.object_pixels[n] for o in kept], dtype=np.int64) for n in names},
            object_masks=np.stack([o.object_mask for o in kept]),
        )

    def get_state(self) -> SimState:
        self._require_reset()
        base = self._env.unwrapped
        targets = base.agent.robot.get_drive_targets().clone()
        return SimState(self._spec.env_id, self._seed, self._elapsed, _clone(base.get_state_dict()), targets)

    def set_state(self, snapshot: SimState) -> Observation:
        if not isinstance(snapshot, SimState):
            raise InputError(f"set_state needs a SimState from get_state(); got {type(snapshot).__name__}")
        if self._spec is None or snapshot.scene != self._spec.env_id:
            self.reset(snapshot.scene, snapshot.seed)
        base = self._env.unwrapped
        base.set_state_dict(_clone(snapshot.state))
        if snapshot.drive_targets is not None:
            robot = base.agent.robot
            robot.set_joint_drive_targets(snapshot.drive_targets.clone(), joints=robot.get_active_joints())
        self._seed, self._elapsed = snapshot.seed, snapshot.elapsed_steps
        base._elapsed_steps[:] = snapshot.elapsed_steps
        obs = base.get_obs()
        return replace(self._observation(obs, base.get_info()), grasped=None)  # contacts are those before the restore

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
        self._env, self._spec = None, None

    # ----------------------------------------------------------------- properties
    @property
    def scene(self) -> SceneSpec | None:
        return self._spec

    @property
    def seed(self) -> int | None:
        return self._seed

    @property
    def camera(self) -> dict[str, np.ndarray]:
        """The studio camera: intrinsic (3, 3), extrinsic_cv (3, 4) world-to-camera, image_size (H, W)."""
        self._require_reset()
        return dict(self._camera)

    @property
    def ee_position(self) -> np.ndarray:
        self._require_reset()
        return self._env.unwrapped.agent.tcp.pose.p[0].cpu().numpy().astype(np.float64)

    def actor_position(self, name: str) -> np.ndarray:
        """World position (3,) of any actor of the scene by name (e.g. the probe's "wall")."""
        self._require_reset()
        for actor in self._env.unwrapped.segmentation_id_map.values():
            if getattr(actor, "name", None) == name:
                return actor.pose.p[0].cpu().numpy().astype(np.float64)
        raise InputError(f"the scene {self._spec.env_id} has no actor named {name!r}")

    @property
    def object_positions(self) -> dict[str, np.ndarray]:
        """World positions (3,) of the scene's tracked objects, visible or not."""
        self._require_reset()
        id_map = self._env.unwrapped.segmentation_id_map
        return {
            name: id_map[ids[0]].pose.p[0].cpu().numpy().astype(np.float64)
            for name, ids in self._object_ids.items()
            if ids
        }

    @property
    def env(self):
        """The underlying ManiSkill env (for scripted experts and motion planners)."""
        self._require_reset()
        return self._env

    # ----------------------------------------------------------------- internals
    def _require_reset(self):
        if self._env is None or self._spec is None:
            raise InputError(f"call reset(scene, seed) first; scenes: {', '.join(SCENES)}")

    def _open(self, spec: SceneSpec):
        self.close()
        self._env = make_env(
            spec.env_id,
            image_size=self.config.image_size,
            obs_mode="rgb+segmentation",
            reward_mode="none",  # the studio never reads rewards (success comes from info)
            render_mode="rgb_array" if self.config.display_render else None,
            sim_backend=self.config.sim_backend,
            render_backend=self.config.render_backend,
        )
        self._spec = spec

    @contextlib.contextmanager
    def _unobserved(self):
        """Steps inside skip ManiSkill's observation. Only chunk ends are shown, and rendering the
        studio camera (rgb + segmentation) is most of a control step's time on CPU: about 60 of 70 ms.
        ManiSkill has no per-step switch, so this sets its obs mode to "none" (its "no observation"
        mode, which returns {}) for the step and restores it."""
        base = self._env.unwrapped
        mode = base._obs_mode
        base._obs_mode = "none"
        try:
            yield
        finally:
            base._obs_mode = mode

    def _find_object_ids(self) -> dict[str, list[int]]:
        id_map = self._env.unwrapped.segmentation_id_map
        return {
            name: [int(i) for i, actor in id_map.items() if getattr(actor, "name", None) == name]
            for name in self._spec.objects
        }

    def _tcp_pose(self) -> np.ndarray:
        return self._env.unwrapped.agent.tcp.pose.raw_pose[0].cpu().numpy().astype(np.float32)

    def _observation(self, obs, info, with_display: bool = True) -> Observation:
        cam = obs["sensor_data"][CAMERA_NAME]
        frame = cam["rgb"][0].cpu().numpy().astype(np.uint8)
        seg = cam["segmentation"][0, ..., 0].cpu().numpy()
        params = obs["sensor_param"][CAMERA_NAME]
        self._camera = {
            "intrinsic": params["intrinsic_cv"][0].cpu().numpy().astype(np.float64),
            "extrinsic_cv": params["extrinsic_cv"][0].cpu().numpy().astype(np.float64),
            "image_size": np.array(frame.shape[:2]),
        }
        per_object = {name: np.isin(seg, ids) for name, ids in self._object_ids.items()}
        pixels = {name: int(mask.sum()) for name, mask in per_object.items()}
        object_mask = np.logical_or.reduce(list(per_object.values())) if per_object else np.zeros(seg.shape, bool)
        success = info.get("success", False)
        success = bool(success.item() if hasattr(success, "item") else success)
        grasp = [v for k, v in info.items() if k.startswith("is_") and k.endswith("grasped")]
        grasped = bool(grasp[0].item() if hasattr(grasp[0], "item") else grasp[0]) if grasp else None
        tcp = self._tcp_pose()
        display = None
        if self.config.display_render and with_display:  # a 512 px render costs ~45 ms
            display = np.asarray(self._env.render()[0].cpu().numpy(), dtype=np.uint8)
        return Observation(frame, tcp, success, pixels, self._elapsed, display, object_mask, grasped)


def make_env(
    env_id: str,
    image_size: int = IMAGE_SIZE,
    obs_mode: str = "rgb+segmentation",
    control_mode: str = CONTROL_MODE,
    render_mode: str | None = None,
    sim_backend: str = "physx_cpu",
    render_backend: str = "cpu",
    max_episode_steps: int | None = 100_000,
    **extra,
):
    """gym.make a ManiSkill env with the studio camera; raise SimulatorUnavailable without Vulkan.

    Studio scenes add their own kwargs (e.g. StackCube's robot). The studio never truncates
    episodes itself (max_episode_steps is large) so that users can keep stepping; generators pass
    None to keep the task's registered limit, which ManiSkill's trajectory json records.
    """
    import gymnasium as gym

    register_scenes()
    studio = SCENES.get(env_id)
    kwargs = dict(
        obs_mode=obs_mode,
        control_mode=control_mode,
        render_mode=render_mode,
        sim_backend=sim_backend,
        render_backend=render_backend,
        sensor_configs=studio_sensor_configs(image_size),
        **(studio.env_kwargs if studio else {}),
        **extra,
    )
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    try:
        return gym.make(env_id, **kwargs)
    except Exception as exc:  # SAPIEN raises plain RuntimeErrors for device problems
        message = str(exc)
        if any(hint in message.lower() for hint in _VULKAN_ERROR_HINTS):
            raise SimulatorUnavailable(f"could not start ManiSkill scene {env_id}: {message}. {VULKAN_FIX}") from exc
        raise


def _clone(state):
    if isinstance(state, dict):
        return {k: _clone(v) for k, v in state.items()}
    if hasattr(state, "clone"):
        return state.clone()
    return copy.deepcopy(state)

