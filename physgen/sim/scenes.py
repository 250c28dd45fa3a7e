"""Scene registry: the ManiSkill tasks PhysGen Studio knows.

All scenes are rendered from the studio camera (physgen.sim.camera) and controlled in the action space
of physgen.actions.space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from physgen.errors import InputError


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

    import physgen.sim.probe_scene  # noqa: F401  (registers PermanenceProbe-v1)

# ManiSkill numbers segmentation ids in build order: the Panda's links (1-15), then the table
# (16) and the ground (17), then the task's objects. So in every studio scene with the Panda,
# ids >= 18 are task objects (cubes, goal markers, the probe's wall). tests/test_sim.py checks it.
FIRST_OBJECT_SEGMENTATION_ID = 18
