"""The app's callbacks as plain functions, with the real simulator."""

import numpy as np
import pytest

from app import callbacks
from app.session import StudioSession

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def loaded():
    session, image, status, seed = callbacks.load_scene(None, "PickCube-v1", 4)
    yield session
    session.close()


def test_load_scene_shows_a_large_frame(loaded):
    assert loaded.scene == "PickCube-v1" and loaded.seed == 4
    _, image, status, _ = callbacks.load_scene(loaded, "PickCube-v1", 4)
    assert image.shape == (512, 512, 3) and image.std() > 10
    assert "PickCube-v1" in status


def test_unknown_scene_keeps_the_session(loaded):
    session, image, status, _ = callbacks.load_scene(loaded, "Teleport-v9", 1)
    assert session is loaded and session.scene == "PickCube-v1"
    assert "unknown scene" in status and "PushCube-v1" in status
    assert image.std() > 10


def test_bad_seed_is_an_inline_message(loaded):
    session, _, status, _ = callbacks.load_scene(loaded, "PickCube-v1", -3)
    assert session.scene == "PickCube-v1" and "seed" in status and status.startswith("⚠️")


def test_random_seed_is_reported(loaded):
    _, _, _, seed = callbacks.load_scene(loaded, "PickCube-v1", 0, random_seed=True)
    assert isinstance(seed, int) and 0 <= seed < 10_000 and loaded.seed == seed


def test_run_moves_the_arm_and_reports_the_pose(loaded):
    callbacks.load_scene(loaded, "PickCube-v1", 4)
    before = loaded.frames[-1]
    session, image, status, rows = callbacks.run_actions(loaded, "right 5cm; down 3cm")
    assert len(session.frames) == 1 + 16 and not np.array_equal(before, session.frames[-1])
    assert "Executed 16 control steps" in status and len(rows) == 2


def test_parse_error_is_inline_and_keeps_frames(loaded):
    n = len(loaded.frames)
    session, _, status, rows = callbacks.run_actions(loaded, "right 5cm; jump")
    assert "column 12" in status and "jump" in status and rows == []
    assert len(session.frames) == n


def test_run_before_load_asks_to_load():
    session, _, status, _ = callbacks.run_actions(StudioSession(), "wait")
    assert "Load a scene first" in status


def test_preview_lists_commands():
    rows, message = callbacks.preview_actions("close; up 2cm x2")
    assert [r[0] for r in rows] == ["close", "up 2cm x2"] and "24 control steps" in message
