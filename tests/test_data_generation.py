"""Generate real demos and corpus videos with ManiSkill and read them back."""

import pytest

from physgen.data.dataset import DemoWindows, VideoWindows, WindowConfig
from physgen.data.demos import generate_demos
from physgen.data.videos import generate_videos
from physgen.errors import InputError

pytestmark = [pytest.mark.sim, pytest.mark.slow]


def test_two_demos_are_generated_and_read_back(tmp_path):
    report = generate_demos("PushCube-v1", 2, tmp_path, shard_size=2, progress=False)
    assert report.demos == 2 and report.new_frames > 20
    data = DemoWindows(tmp_path, config=WindowConfig(history=5, chunk=8), split="all")
    assert {e.scene for e in data.episodes} == {"PushCube-v1"} and len(data.episodes) == 2
    item = data[0]
    assert item["frames"].shape == (5, 3, 128, 128) and item["frames"].float().std() > 10
    assert item["actions"].shape == (8, 8, 7) and item["boa"]
    # A second run resumes: nothing new is made.
    again = generate_demos("PushCube-v1", 2, tmp_path, shard_size=2, progress=False)
    assert again.new_demos == 0 and again.demos == 2


def test_two_corpus_videos_are_generated(tmp_path):
    report = generate_videos(2, tmp_path, scenes=["PullCube-v1", "PermanenceProbe-v1"], progress=False)
    assert report.new_videos == 2
    data = VideoWindows(tmp_path, config=WindowConfig(history=5, chunk=8), split="all")
    assert {e.scene for e in data.episodes} == {"PullCube-v1", "PermanenceProbe-v1"}
    assert data[0]["frames"].shape == (5, 3, 128, 128)


def test_eval_seeds_cannot_be_generated_for_training(tmp_path):
    with pytest.raises(InputError, match="reserved for evaluation"):
        generate_demos("PickCube-v1", 10, tmp_path, seed_start=9_990)
    with pytest.raises(InputError, match="10000"):
        generate_videos(20, tmp_path, seed_start=9_999)


def test_demos_need_a_motion_planning_task(tmp_path):
    with pytest.raises(InputError, match="no motion-planning solution"):
        generate_demos("PermanenceProbe-v1", 1, tmp_path)
