"""Windowing logic on a tiny synthetic trajectory file laid out like ManiSkill's h5 + json."""

import json

import h5py
import numpy as np
import pytest

from physgen.data.dataset import DemoWindows, VideoWindows, WindowConfig, _H5Windows, split_of_seed
from physgen.data.episodes import CONVERTED_SUFFIX, Episode
from physgen.errors import InputError


def write_demo(root, scene="PushCube-v1", seeds=(0, 1), num_actions=20):
    folder = root / scene
    folder.mkdir(parents=True)
    h5_path = folder / f"shard_0000{CONVERTED_SUFFIX}.h5"
    episodes = []
    with h5py.File(h5_path, "w") as f:
        for i, seed in enumerate(seeds):
            g = f.create_group(f"traj_{i}")
            # Frame t is filled with the value t, action t with the value t (gripper -1 at the end).
            frames = np.arange(num_actions + 1, dtype=np.uint8)[:, None, None, None] * np.ones((1, 8, 8, 3), np.uint8)
            g.create_dataset("obs/sensor_data/base_camera/rgb", data=frames)
            actions = np.tile(np.arange(num_actions, dtype=np.float32)[:, None] / 100, (1, 7))
            actions[:, 6] = np.where(np.arange(num_actions) < num_actions // 2, 1.0, -1.0)
            g.create_dataset("actions", data=actions)
            episodes.append({"episode_id": i, "reset_kwargs": {"seed": seed}, "elapsed_steps": num_actions})
    h5_path.with_suffix(".json").write_text(json.dumps({"env_info": {"env_id": scene}, "episodes": episodes}))
    return h5_path


def test_window_frames_and_action_chunks_align(tmp_path):
    write_demo(tmp_path)
    data = DemoWindows(tmp_path, config=WindowConfig(history=3, chunk=4, lookahead=2, start_stride=1), split="all")
    item = data[data.index.index((0, 4))]  # window starting at control step 4
    assert item["frames"].shape == (3, 3, 8, 8)
    assert item["frames"][:, 0, 0, 0].tolist() == [4, 8, 12]
    # actions[n] leads into frame n: chunk n covers control steps 4 + 4(n-1) .. 4 + 4n - 1.
    np.testing.assert_allclose(item["actions"][0, :, 0].numpy() * 100, [0, 1, 2, 3], atol=1e-4)
    np.testing.assert_allclose(item["actions"][4, :, 0].numpy() * 100, [16, 17, 18, 19], atol=1e-4)
    assert item["actions"].shape == (5, 4, 7)
    assert not item["boa"] and item["action_valid"].all()


def test_episode_start_uses_boa_and_pads_before(tmp_path):
    write_demo(tmp_path)
    data = DemoWindows(tmp_path, config=WindowConfig(history=2, chunk=4, lookahead=1, start_stride=1), split="all")
    item = data[0]
    assert item["boa"]
    assert item["action_valid"].tolist() == [False, True, True]
    assert (item["actions"][0, :, :6] == 0).all() and (item["actions"][0, :, 6] == 1).all()


def test_steps_after_the_end_repeat_last_frame_and_hold(tmp_path):
    write_demo(tmp_path, num_actions=20)
    data = DemoWindows(tmp_path, config=WindowConfig(history=3, chunk=4, lookahead=1, start_stride=1), split="all")
    item = data[data.index.index((0, 16))]
    assert item["frames"][:, 0, 0, 0].tolist() == [16, 20, 20]
    assert item["frame_valid"].tolist() == [True, True, False]
    assert item["action_valid"].tolist() == [True, True, False, False]
    assert (item["actions"][2, :, :6] == 0).all() and (item["actions"][2, :, 6] == -1).all()


def test_splits_are_deterministic_and_disjoint(tmp_path):
    seeds = tuple(range(40))
    write_demo(tmp_path, seeds=seeds)
    train = DemoWindows(tmp_path, split="train")
    val = DemoWindows(tmp_path, split="val")
    train_seeds = {e.seed for e in train.episodes}
    val_seeds = {e.seed for e in val.episodes}
    assert train_seeds and val_seeds and not train_seeds & val_seeds
    assert train_seeds | val_seeds == set(seeds)
    assert all(split_of_seed(s) == "val" for s in val_seeds)


def test_eval_seeds_never_enter_a_dataset():
    episode = Episode("x.h5", "traj_0", "PushCube-v1", 10_000, 10)
    with pytest.raises(InputError, match="reserved for evaluation"):
        _H5Windows([episode], WindowConfig(), "train")


def test_missing_data_gives_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="physgen demos"):
        DemoWindows(tmp_path)
    with pytest.raises(InputError, match="physgen videos"):
        VideoWindows(tmp_path)


def test_bad_window_config_is_rejected():
    with pytest.raises(InputError, match="history"):
        WindowConfig(history=0)


def test_video_windows_are_frames_only(tmp_path):
    folder = tmp_path / "PullCube-v1"
    folder.mkdir()
    with h5py.File(folder / "ep_00003.h5", "w") as f:
        f.create_dataset("frames", data=np.zeros((30, 8, 8, 3), np.uint8))
        f.attrs["seed"] = 3
    data = VideoWindows(tmp_path, config=WindowConfig(history=4, chunk=8), split="all")
    item = data[0]
    assert set(item) == {"frames", "frame_valid"}
    assert item["frames"].shape == (4, 3, 8, 8) and item["frame_valid"].all()
