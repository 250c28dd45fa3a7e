import numpy as np
import pytest

from physgen.eval.permanence import cube_pixels, disc_fraction

TABLE = (176, 105, 66)  # the wooden table under the studio light
CUBE = (207, 88, 88)  # the probe cube's lit top face
WALL = (140, 140, 150)


def test_hue_rule_separates_cube_from_table_and_wall():
    frame = np.array([[TABLE, CUBE, WALL, (255, 255, 255)]], np.uint8)
    assert cube_pixels(frame).tolist() == [[False, True, False, False]]


def test_disc_fraction_is_local():
    frame = np.full((32, 32, 3), TABLE, np.uint8)
    frame[10:14, 10:14] = CUBE
    assert disc_fraction(frame, (11.5, 11.5)) > 0.2
    assert disc_fraction(frame, (25, 25)) == 0.0


@pytest.mark.sim
def test_probe_presence_follows_segmentation_on_real_frames(sim):
    from physgen.eval.permanence import presence_scores, run_probe

    episode = run_probe(sim, seed=0)
    assert len(episode.actions) % 8 == 0 and len(episode.frames) == len(episode.actions) // 8 + 1
    assert len(episode.hidden_chunks) >= 2
    real = presence_scores(episode, episode.frames)
    # On the simulator's own frames the hue score agrees with segmentation about visibility.
    np.testing.assert_array_equal(real < 0.05, episode.ground_truth_presence < 0.05)
