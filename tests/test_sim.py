"""End-to-end tests against real ManiSkill (Vulkan through Mesa lavapipe)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from physgen.errors import InputError
from physgen.sim.experts import follow_waypoints, probe_waypoints
from physgen.sim.scenes import SCENES

pytestmark = pytest.mark.sim

PUSH = np.tile(np.array([0.2, 0.3, -0.3, 0, 0, 0, 1.0], np.float32), (4, 1))


@pytest.mark.parametrize("scene", list(SCENES))
def test_scene_resets_steps_and_renders(sim, scene):
    obs = sim.reset(scene, seed=1)
    assert obs.frame.shape == (128, 128, 3) and obs.frame.dtype == np.uint8
    assert obs.frame.std() > 10, "frame is blank"
    assert all(n > 0 for n in obs.object_pixels.values()), "tracked objects should be visible at reset"
    result = sim.step(PUSH)
    assert result.frames.shape == (1, 128, 128, 3) and result.ee_poses.shape == (4, 7)  # one frame per chunk (4 < 8 steps)
    assert not np.array_equal(result.frames[-1], obs.frame), "the arm should move"
    assert result.observation.elapsed_steps == 4


def test_same_seed_and_actions_give_same_frames(sim):
    sim.reset("PickCube-v1", seed=7)
    first = sim.step(PUSH).frames
    sim.reset("PickCube-v1", seed=7)
    second = sim.step(PUSH).frames
    np.testing.assert_array_equal(first, second)


def test_a_chunk_observed_only_at_its_end_equals_one_observed_every_step(sim):
    """Steps inside a chunk skip the camera; the physics, poses and end frame are the same."""
    sim.reset("PushCube-v1", seed=3)
    chunk = sim.step(PUSH)
    sim.reset("PushCube-v1", seed=3)
    each = [sim.step(action) for action in PUSH]  # a one-step chunk is always observed
    np.testing.assert_array_equal(chunk.frames[-1], each[-1].frames[-1])
    np.testing.assert_allclose(chunk.ee_poses, np.concatenate([s.ee_poses for s in each]), atol=1e-6)
    assert chunk.observation.object_pixels == each[-1].observation.object_pixels


def test_different_seeds_differ(sim):
    a = sim.reset("PickCube-v1", seed=1).frame
    b = sim.reset("PickCube-v1", seed=2).frame
    assert not np.array_equal(a, b)


def test_state_save_and_restore(sim):
    sim.reset("PushCube-v1", seed=3)
    sim.step(PUSH)
    snapshot = sim.get_state()
    first = sim.step(PUSH)
    sim.set_state(snapshot)
    second = sim.step(PUSH)
    # PhysX contact caches are not part of the state, so restore is reproducible to ~0.1 mm.
    np.testing.assert_allclose(first.ee_poses, second.ee_poses, atol=1e-4)
    assert np.abs(first.frames.astype(int) - second.frames.astype(int)).mean() < 0.5


def test_a_restored_state_equals_the_saved_one(sim):
    """Forking: after set_state, get_state gives back the saved state (the studio's Fork here)."""
    sim.reset("PushCube-v1", seed=5)
    sim.step(PUSH)
    saved = sim.get_state()
    sim.step(PUSH)
    sim.step(PUSH)
    sim.set_state(saved)
    restored = sim.get_state()
    assert (restored.scene, restored.seed, restored.elapsed_steps) == (saved.scene, saved.seed, saved.elapsed_steps)

    def flat(state, prefix=""):
        for key, value in state.items():
            yield from flat(value, f"{prefix}{key}/") if isinstance(value, dict) else [(prefix + key, value)]

    restored_items = dict(flat(restored.state))
    for key, value in flat(saved.state):
        np.testing.assert_allclose(np.asarray(restored_items[key]), np.asarray(value), atol=1e-6, err_msg=key)
    np.testing.assert_allclose(np.asarray(restored.drive_targets), np.asarray(saved.drive_targets), atol=1e-6)


def test_unknown_scene_lists_known_scenes(sim):
    with pytest.raises(InputError) as info:
        sim.reset("FlyToMoon-v1", 0)
    assert "PickCube-v1" in str(info.value) and "PermanenceProbe-v1" in str(info.value)


@pytest.mark.parametrize("seed", [-1, 1.5, "abc", None, True, 2**40])
def test_bad_seed_is_rejected(sim, seed):
    with pytest.raises(InputError, match="seed"):
        sim.reset("PickCube-v1", seed)


@pytest.mark.parametrize(
    "actions, words",
    [(np.zeros(6), "shape"), (np.zeros((3, 8)), "shape"), ([0, np.nan, 0, 0, 0, 0, 1], "finite"), ([0, 0, 0, 0, 0, np.inf, 1], "finite")],
)
def test_bad_actions_are_rejected_and_sim_survives(sim, actions, words):
    sim.reset("PickCube-v1", 0)
    with pytest.raises(InputError, match=words):
        sim.step(actions)
    assert sim.step(PUSH).frames.shape == (1, 128, 128, 3)


def test_step_before_reset_is_a_clear_error():
    from physgen.sim.simulator import Simulator

    with pytest.raises(InputError, match="reset"):
        Simulator().step(PUSH)


def test_missing_vulkan_names_the_fix(tmp_path):
    code = (
        "from physgen.sim.simulator import Simulator\n"
        "from physgen.errors import SimulatorUnavailable\n"
        "try:\n    Simulator().reset('PickCube-v1', 0)\n"
        "except SimulatorUnavailable as e:\n    print('UNAVAILABLE', e)\n"
    )
    env = dict(os.environ, VK_ICD_FILENAMES=str(tmp_path / "missing_icd.json"), VK_DRIVER_FILES=str(tmp_path / "missing_icd.json"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "UNAVAILABLE" in out.stdout, out.stdout + out.stderr
    assert "mesa-vulkan-drivers" in out.stdout and "make system" in out.stdout


def test_probe_hides_then_reveals_the_cube(sim):
    obs = sim.reset("PermanenceProbe-v1", seed=0)
    pixels = [obs.object_pixels["cube"]]
    cube = sim.env.unwrapped.cube.pose.p[0].numpy()

    def step(action):
        pixels.append(sim.step(action).observation.object_pixels["cube"])

    follow_waypoints(probe_waypoints(cube), lambda: sim.ee_position, step)
    hidden = np.flatnonzero(np.array(pixels) == 0)
    assert pixels[0] > 20 and len(hidden) >= 16, "cube should be hidden for at least two chunks"
    assert pixels[-1] > 20, "cube should reappear past the wall"
    assert sim.step(np.zeros(7)).observation.success


@pytest.mark.parametrize("command, axis, sign", [("right 5cm", 1, 1), ("down 6cm", 2, -1), ("forward 4cm", 0, 1)])
def test_typed_moves_travel_the_typed_distance(sim, command, axis, sign):
    from physgen.actions.language import parse_actions

    start = sim.reset("PushCube-v1", seed=0).ee_pose[:3]
    sim.step(parse_actions(command).actions)
    end = sim.step(parse_actions("wait").actions).observation.ee_pose[:3]
    distance = float(command.split()[1].removesuffix("cm")) / 100
    assert sign * (end[axis] - start[axis]) == pytest.approx(distance, abs=0.01)


def test_display_render_is_a_large_third_person_view():
    from physgen.sim.simulator import SimConfig, Simulator

    simulator = Simulator(SimConfig(display_render=True))
    try:
        obs = simulator.reset("PushCube-v1", 0)
        assert obs.display.shape == (512, 512, 3) and obs.display.std() > 10
        assert simulator.step(PUSH).observation.display.shape == (512, 512, 3)
    finally:
        simulator.close()


@pytest.mark.parametrize("scene", list(SCENES))
def test_task_objects_have_segmentation_ids_from_18(sim, scene):
    from physgen.sim.scenes import FIRST_OBJECT_SEGMENTATION_ID

    sim.reset(scene, 0)
    id_map = sim.env.unwrapped.segmentation_id_map
    for seg_id, actor in id_map.items():
        is_object = actor.name in SCENES[scene].objects
        is_fixture = actor.name.startswith("panda") or actor.name in ("table-workspace", "ground")
        if is_object:
            assert seg_id >= FIRST_OBJECT_SEGMENTATION_ID
        if is_fixture:
            assert seg_id < FIRST_OBJECT_SEGMENTATION_ID


def test_the_tasks_grasp_check_is_reported_where_the_task_has_one(sim):
    from physgen.actions.space import GRIPPER_CLOSED, GRIPPER_OPEN
    from physgen.sim.experts import Waypoint

    assert sim.reset("PushCube-v1", seed=0).grasped is None
    assert sim.reset("StackCube-v1", seed=0).grasped is False
    assert sim.reset("PickCube-v1", seed=0).grasped is False
    cube = tuple(float(v) for v in sim.actor_position("cube"))
    grasped = []

    def step(action):
        grasped.append(sim.step(action).observation.grasped)

    above = (cube[0], cube[1], cube[2] + 0.08)
    follow_waypoints([Waypoint(above, GRIPPER_OPEN), Waypoint(cube, GRIPPER_OPEN, speed=0.01, tolerance=0.004)], lambda: sim.ee_position, step)
    for _ in range(10):
        step(np.array([0, 0, 0, 0, 0, 0, GRIPPER_CLOSED], np.float32))
    assert not any(grasped[:-10]) and grasped[-1]
