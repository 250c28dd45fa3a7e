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


def test_one_step_predicts_each_chunk_from_the_real_frames_before_it(make_tiny_model):
    from physgen import IMAGE_SIZE
    from physgen.eval.permanence import ProbeEpisode, one_step
    from physgen.model.world_env import WorldModelEnv

    world = WorldModelEnv(*make_tiny_model())
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (4, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    actions = rng.uniform(-0.5, 0.5, (3 * world.chunk, 7)).astype(np.float32)
    mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), bool)
    episode = ProbeEpisode(3, actions, frames, np.array([9, 0, 0, 9]), np.zeros((4, 2)), mask, mask)
    ahead = one_step(world, episode)
    assert len(ahead) == 4 and world.elapsed_steps == len(actions)
    # The last frame is predicted from the real frames 0-2, whatever was predicted before it.
    world.reset(frame=frames[0], seed=3)
    for n in range(2):
        world.predict(actions[n * world.chunk : (n + 1) * world.chunk])
        world.observe(frames[n + 1], actions[n * world.chunk : (n + 1) * world.chunk])
    np.testing.assert_array_equal(ahead[3], world.predict(actions[2 * world.chunk :]))
