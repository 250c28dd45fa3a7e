"""Scene registry: the ManiSkill tasks PhysGen Studio knows, and the one camera they share.

All scenes are rendered from the same "studio" camera. ManiSkill's default `base_camera` sees the
whole room with a 90° field of view, so at 64-128 px a 4 cm cube is 2-3 pixels and a VAE erases
it (see CALIBRATION notes). The studio camera looks at the workspace from the front with a
narrower field of view: at 128 px a cube is about 6-8 pixels wide and the arm stays in frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from physgen.errors import InputError

# The studio camera, as a sapien pose [x, y, z, qw, qx, qy, qz] so that it stays JSON-serialisable
# inside ManiSkill trajectory files (env_info.env_kwargs.sensor_configs).
STUDIO_CAMERA_EYE = (0.5, 0.0, 0.45)
STUDIO_CAMERA_TARGET = (-0.12, 0.0, 0.08)
STUDIO_CAMERA_FOV = 1.0  # radians, vertical
CAMERA_NAME = "base_camera"
DEFAULT_IMAGE_SIZE = 128

# The control mode of every scene, and of the world model: 7-D end-effector delta pose in [-1, 1]
# ([dx dy dz drx dry drz gripper]); 1.0 is 0.1 m (or 0.1 rad) per control step, gripper -1 closes.
CONTROL_MODE = "pd_ee_delta_pose"
ACTION_DIM = 7


def studio_camera_pose() -> list[float]:
    """The studio camera pose as [x, y, z, qw, qx, qy, qz] (computed with ManiSkill's look_at)."""
    from mani_skill.utils import sapien_utils

    pose = sapien_utils.look_at(eye=list(STUDIO_CAMERA_EYE), target=list(STUDIO_CAMERA_TARGET))
    return [round(float(v), 6) for v in pose.raw_pose[0].tolist()]


def studio_sensor_configs(image_size: int = DEFAULT_IMAGE_SIZE) -> dict:
    """`sensor_configs` for gym.make: the studio camera at image_size x image_size."""
    return {
        "width": image_size,
        "height": image_size,
        CAMERA_NAME: {"pose": studio_camera_pose(), "fov": STUDIO_CAMERA_FOV},
    }


@dataclass(frozen=True)
class SceneSpec:
    """One scene of the studio."""

    env_id: str  # the ManiSkill env id passed to gym.make
    title: str  # short name for the UI
    description: str  # one sentence: what the robot should do
    objects: tuple[str, ...]  # actor names whose visibility is measured from segmentation
    env_kwargs: dict = field(default_factory=dict)  # extra gym.make kwargs (e.g. robot_uids)
    is_probe: bool = False  # the object-permanence probe scene


SCENES: dict[str, SceneSpec] = {
    spec.env_id: spec
    for spec in [
        SceneSpec(
            "PushCube-v1",
            "Push cube",
            "Push the blue cube forward (toward the camera) into the red-white goal region.",
            objects=("cube",),
        ),
        SceneSpec(
            "PickCube-v1",
            "Pick cube",
            "Pick up the red cube and move it to a goal position in the air (green sphere, hidden).",
            objects=("cube",),
        ),
        SceneSpec(
            "StackCube-v1",
            "Stack cube",
            "Pick up the red cube and place it on top of the green cube.",
            objects=("cubeA", "cubeB"),
            # The default panda_wristcam adds a second camera that costs ~3x in render time and
            # that the world model never sees.
            env_kwargs={"robot_uids": "panda"},
        ),
        SceneSpec(
            "PermanenceProbe-v1",
            "Object-permanence probe",
            "Push the red cube sideways behind the grey wall; it is hidden for several steps and "
            "should reappear on the far side.",
            objects=("cube",),
            is_probe=True,
        ),
    ]
}

TARGET_TASKS = ("PushCube-v1", "PickCube-v1", "StackCube-v1")


def get_scene(name: str) -> SceneSpec:
    """The SceneSpec for `name`; accepts the env id ("PickCube-v1") or its short form ("PickCube")."""
    if isinstance(name, str):
        key = name.strip()
        if key in SCENES:
            return SCENES[key]
        for env_id in SCENES:
            if env_id.split("-v")[0].lower() == key.lower():
                return SCENES[env_id]
    raise InputError(f"unknown scene {name!r}; known scenes: {', '.join(SCENES)}")


def register_scenes() -> None:
    """Import ManiSkill's envs and register our own (the probe scene) with gymnasium."""
    import mani_skill.envs  # noqa: F401  (registers ManiSkill's tasks)

    import physgen.probe_scene  # noqa: F401  (registers PermanenceProbe-v1)

# ManiSkill numbers segmentation ids in build order: the Panda's links (1-15), then the table
# (16) and the ground (17), then the task's objects. So in every studio scene with the Panda,
# ids >= 18 are task objects (cubes, goal markers, the probe's wall). tests/test_sim.py checks it.
FIRST_OBJECT_SEGMENTATION_ID = 18
