import json

import numpy as np
import pytest

from physgen.actions.language import parse_actions
from physgen.data.episode_io import ActionRecord, read_action_file, write_side_by_side_video
from physgen.errors import InputError


def record(text="right 4cm; close"):
    return ActionRecord("PushCube-v1", 3, parse_actions(text).actions, (text,))


def test_json_round_trip_keeps_actions_and_text(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(record().to_json())
    back = read_action_file(path)
    np.testing.assert_allclose(back.actions, record().actions, atol=1e-6)
    assert back.program_text() == "right 4cm; close"


def test_text_that_no_longer_matches_falls_back_to_raw_steps():
    data = json.loads(record().to_json())
    data["actions"][0][1] = 0.9
    back = ActionRecord.from_json(json.dumps(data))
    assert back.program_text().startswith("[0 0.9 ")
    np.testing.assert_allclose(parse_actions(back.program_text()).actions, back.actions, atol=1e-5)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"scene": "PushCube-v1"}', "format"),
        ('{"format": "physgen-actions/1", "scene": "Nope-v1", "seed": 0, "actions": [[0,0,0,0,0,0,1]]}', "unknown scene"),
        ('{"format": "physgen-actions/1", "scene": "PushCube-v1", "seed": -1, "actions": [[0,0,0,0,0,0,1]]}', "seed"),
        ('{"format": "physgen-actions/1", "scene": "PushCube-v1", "seed": 0, "actions": [[0,0,0]]}', "shape"),
        ('{"format": "physgen-actions/1", "scene": "PushCube-v1", "seed": 0}', "lacks actions"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_action_file(path)


def test_only_json_files_are_read(tmp_path):
    path = tmp_path / "actions.pkl"
    path.write_bytes(b"\x80\x04")
    with pytest.raises(InputError, match=r"\.json"):
        read_action_file(path)


def test_side_by_side_video_has_one_frame_per_chunk(tmp_path):
    import mediapy

    rng = np.random.default_rng(0)
    real = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    path = write_side_by_side_video(tmp_path / "v.mp4", real, real[::-1])
    video = mediapy.read_video(path)
    assert video.shape == (3, 64, 136, 3)
