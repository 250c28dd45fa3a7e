"""Play episodes: random drive chunks that stay in the workspace, made with the real simulator."""

import h5py
import numpy as np
import pytest

from physgen.actions.space import EFFECTIVE_METERS_PER_UNIT, GRIPPER_OPEN
from physgen.data.episodes import find_video_episodes
from physgen.data.play import TCP_HIGH, TCP_LOW, generate_play, play_chunk
from physgen.errors import InputError


def test_play_chunks_are_straight_and_keep_the_gripper_in_the_workspace(rng):
    tcp, gripper = np.array([0.0, 0.0, 0.1]), GRIPPER_OPEN
    objects = [np.array([0.05, -0.1, 0.02])]
    for _ in range(300):
        chunk, gripper = play_chunk(rng, tcp, objects, gripper, chunk_len=8)
        assert chunk.shape == (8, 7) and (chunk[:, 6] == gripper).all()
        np.testing.assert_array_equal(chunk, chunk[:1].repeat(8, 0))  # one constant command per chunk
        tcp = tcp + chunk[:, :3].sum(0) * EFFECTIVE_METERS_PER_UNIT
        assert np.all(tcp >= TCP_LOW - 1e-6) and np.all(tcp <= TCP_HIGH + 1e-6)


def test_play_is_only_made_in_the_target_scenes(tmp_path):
    with pytest.raises(InputError, match="target scenes"):
        generate_play("PullCube-v1", 1, tmp_path)


@pytest.mark.sim
@pytest.mark.slow
def test_a_play_episode_is_recorded_as_non_demonstration(tmp_path):
    report = generate_play("PushCube-v1", 1, tmp_path, chunks=3, progress=False)
    assert report["new"] == 1
    (episode,) = find_video_episodes(tmp_path)
    assert episode.num_frames == 25 and not episode.imitate
    with h5py.File(episode.path) as f:
        assert f["actions"].shape == (24, 7) and f["frames"].shape == (25, 128, 128, 3)
    assert generate_play("PushCube-v1", 1, tmp_path, chunks=3, progress=False)["new"] == 0  # resumes
