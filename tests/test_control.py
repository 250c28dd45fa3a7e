import numpy as np
import pytest

from physgen.actions.space import (
    EFFECTIVE_METERS_PER_UNIT,
    WORKSPACE_X,
    chunks_to_target,
    delta_action,
    pixel_to_table,
    stroke_to_table,
    validate_actions,
    world_to_pixel,
)
from physgen.errors import InputError

# The studio camera as ManiSkill reports it at 128 px (obs["sensor_param"]).
K = np.array([[117.1512146, 0, 64], [0, 117.1512146, 64], [0, 0, 1]])
E = np.array([[0, 1, 0, 0], [0.51245791, 0, -0.85871232, 0.13019148], [-0.85871243, 0, -0.51245791, 0.65996194]])


def test_validate_accepts_single_action_and_chunk():
    assert validate_actions([0, 0, 0, 0, 0, 0, 1]).shape == (1, 7)
    assert validate_actions(np.zeros((8, 7))).dtype == np.float32


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.zeros(6), "shape"),
        (np.zeros((2, 8)), "shape"),
        (np.zeros((0, 7)), "shape"),
        ([0, 0, float("nan"), 0, 0, 0, 1], "finite"),
        ([0, 0, float("inf"), 0, 0, 0, 1], "finite"),
        ([0, 0, 2.0, 0, 0, 0, 1], "[-1, 1]"),
        ("forward", "numbers"),
    ],
)
def test_validate_rejects_bad_actions(bad, words):
    with pytest.raises(InputError, match=None) as info:
        validate_actions(bad)
    assert words in str(info.value)


def test_delta_action_is_clipped_and_keeps_gripper():
    action = delta_action([0, 0, 0], [1.0, 0, -0.005], gripper=-1)
    assert action[0] == 1.0 and action[2] == pytest.approx(-0.05) and action[6] == -1


def test_chunks_to_target_fills_whole_chunks_and_sums_to_displacement():
    actions = chunks_to_target([0, 0, 0.1], [0.12, -0.05, 0.1], chunk_len=8, max_speed=0.5)
    assert len(actions) % 8 == 0
    np.testing.assert_allclose(actions[:, :3].sum(0) * EFFECTIVE_METERS_PER_UNIT, [0.12, -0.05, 0.0], atol=1e-6)
    assert np.abs(actions[:, :3]).max() <= 0.5


def test_pixel_to_table_inverts_projection():
    point = np.array([0.05, -0.1, 0.0])
    pixel = world_to_pixel(point, K, E)
    np.testing.assert_allclose(pixel_to_table(pixel, K, E, (128, 128)), point, atol=1e-6)


def test_pixel_to_table_at_height():
    point = np.array([-0.02, 0.08, 0.05])
    pixel = world_to_pixel(point, K, E)
    np.testing.assert_allclose(pixel_to_table(pixel, K, E, (128, 128), plane_z=0.05), point, atol=1e-6)


def test_pixel_outside_image_is_rejected():
    with pytest.raises(InputError, match="outside the 128x128 image"):
        pixel_to_table((130, 10), K, E, (128, 128))


def test_pixel_above_horizon_or_off_table_is_rejected():
    with pytest.raises(InputError, match="horizon|workspace"):
        pixel_to_table((64, 0), K, E, (128, 128))


def test_pad_to_chunks_holds_still_with_the_last_gripper_command():
    from physgen.actions.space import pad_to_chunks

    acts = np.zeros((3, 7), np.float32)
    acts[:, 1], acts[:, 6] = 0.5, -1
    padded, pad = pad_to_chunks(acts, 8)
    assert padded.shape == (8, 7) and pad == 5
    assert (padded[3:, :6] == 0).all() and (padded[3:, 6] == -1).all()
    assert pad_to_chunks(np.zeros((16, 7)), 8)[1] == 0


def test_commanded_path_integrates_the_effective_step():
    from physgen.actions.space import commanded_path

    acts = np.zeros((4, 7), np.float32)
    acts[:, 0] = 0.5
    path = commanded_path([0.1, 0, 0.2], acts)
    assert path.shape == (5, 3)
    np.testing.assert_allclose(path[-1], [0.1 + 4 * 0.5 * EFFECTIVE_METERS_PER_UNIT, 0, 0.2])


def _pixels(points_xy):
    return [world_to_pixel([x, y, 0.0], K, E) for x, y in points_xy]


def test_a_stroke_becomes_table_points_every_spacing_from_its_start_to_its_end():
    stroke = _pixels([(0.0, -0.1 + 0.01 * i) for i in range(21)])  # 20 cm to the right, drawn as 21 points
    path, cut = stroke_to_table(stroke, K, E, (128, 128), spacing_m=0.05)
    assert not cut and path.shape == (5, 2)
    np.testing.assert_allclose(path[0], [0.0, -0.1], atol=1e-6)
    np.testing.assert_allclose(path[-1], [0.0, 0.1], atol=1e-6)
    np.testing.assert_allclose(np.diff(path[:, 1]), 0.05, atol=1e-6)


def test_a_stroke_that_leaves_the_table_is_cut_at_the_workspace_edge():
    stroke = _pixels([(-0.1, 0.0), (-0.2, 0.0), (-0.4, 0.0)])  # the workspace ends at x = -0.30, still in view
    path, cut = stroke_to_table(stroke, K, E, (128, 128), spacing_m=0.2)
    assert cut
    np.testing.assert_allclose(path[-1], [WORKSPACE_X[0], 0.0], atol=1e-6)


@pytest.mark.parametrize("stroke, words", [([], "no points"), ([[1, 2, 3]], "finite"), (_pixels([(-0.4, 0.0), (0.0, 0.1)]), "starts at table point"),
                                           ([[-5, 3], [10, 10]], "starts off the table")])
def test_bad_strokes_say_what_is_accepted(stroke, words):
    with pytest.raises(InputError, match=words):
        stroke_to_table(stroke, K, E, (128, 128))
