"""The app's callbacks as plain functions, with the real simulator."""

import numpy as np
import pytest
import torch

from app import callbacks, model_store
from app.session import StudioSession
from physgen.model import PhysGen
from physgen.tokenizer import FrameTokenizer, TokenizerConfig

pytestmark = pytest.mark.sim

TINY = dict(token_dim=64, num_frame_tokens=16, chunk=8, history=3, dim=32, depth=2, heads=2, frame_head_width=32,
            frame_head_depth=1, action_head_width=16, action_head_depth=1, lmtp=2, sample_steps=2)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """An untrained tiny checkpoint: exercises the prediction path, not its quality."""
    folder = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    PhysGen(**TINY).save_pretrained(folder)
    FrameTokenizer(TokenizerConfig(block_out_channels=(16, 16, 16, 16))).save_pretrained(folder / "tokenizer")
    return folder


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PHYSGEN_CHECKPOINT", str(tiny_checkpoint))
        session, *_ = callbacks.load_scene(None, "PickCube-v1", 4)
        yield session
    session.close()


def test_load_scene_shows_large_real_and_predicted_frames(loaded):
    assert loaded.scene == "PickCube-v1" and loaded.seed == 4
    _, image, predicted, status, _ = callbacks.load_scene(loaded, "PickCube-v1", 4)
    assert image.shape == (512, 512, 3) and image.std() > 10
    # Before any action the prediction shows the real first frame through the tokenizer.
    assert predicted.shape == (512, 512, 3) and loaded.world is not None
    assert "PickCube-v1" in status


def test_without_a_checkpoint_the_page_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("PHYSGEN_CHECKPOINT", str(tmp_path / "missing"))
    assert "Prediction is not available" in callbacks.prediction_banner()
    assert model_store.shared_model()[0] is None


def test_unknown_scene_keeps_the_session(loaded):
    session, image, _, status, _ = callbacks.load_scene(loaded, "Teleport-v9", 1)
    assert session is loaded and session.scene == "PickCube-v1"
    assert "unknown scene" in status and "PushCube-v1" in status
    assert image.std() > 10


def test_bad_seed_is_an_inline_message(loaded):
    session, _, _, status, _ = callbacks.load_scene(loaded, "PickCube-v1", -3)
    assert session.scene == "PickCube-v1" and "seed" in status and status.startswith("⚠️")


def test_random_seed_is_reported(loaded):
    *_, seed = callbacks.load_scene(loaded, "PickCube-v1", 0, random_seed=True)
    assert isinstance(seed, int) and 0 <= seed < 10_000 and loaded.seed == seed


def test_run_moves_the_arm_and_reports_the_pose(loaded):
    callbacks.load_scene(loaded, "PickCube-v1", 4)
    before = loaded.frames[-1]
    session, image, predicted, status, rows = callbacks.run_actions(loaded, "right 5cm; down 3cm")
    assert len(session.frames) == 1 + 16 and not np.array_equal(before, session.frames[-1])
    assert "Executed 16 control steps" in status and len(rows) == 2
    assert len(session.predicted) == 1 + 2 and predicted.shape == (512, 512, 3)
    assert "Prediction vs simulator: PSNR" in status


def test_parse_error_is_inline_and_keeps_frames(loaded):
    n = len(loaded.frames)
    session, _, _, status, rows = callbacks.run_actions(loaded, "right 5cm; jump")
    assert "column 12" in status and "jump" in status and rows == []
    assert len(session.frames) == n


def test_run_before_load_asks_to_load():
    session, _, _, status, _ = callbacks.run_actions(StudioSession(), "wait")
    assert "Load a scene first" in status


def test_preview_lists_commands():
    rows, message = callbacks.preview_actions("close; up 2cm x2")
    assert [r[0] for r in rows] == ["close", "up 2cm x2"] and "24 control steps" in message
