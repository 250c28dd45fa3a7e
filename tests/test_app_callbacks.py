"""The app's callbacks as plain functions, with the real simulator and a tiny untrained checkpoint
(tests/test_studio_fast.py runs them on a fake simulator in `make test-fast`)."""

import json

import numpy as np
import pytest

from app import callbacks, model_store
from app.export import export_episode, load_action_file
from app.policy import let_physgen_act
from app.session import StudioSession
from physgen import EVAL_SEED_START
from physgen.errors import SimulatorUnavailable

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PHYSGEN_CHECKPOINT", str(tiny_checkpoint))
        session, *_ = callbacks.load_scene(None, "PickCube-v1", 4)
        yield session
    session.close()


def last(generator):
    *_, final = generator
    return final


class Click:
    def __init__(self, x, y):
        self.index = (x, y)


def test_load_scene_shows_large_real_and_predicted_frames(loaded):
    assert loaded.scene == "PickCube-v1" and loaded.seed == 4
    _, image, predicted, _, status, _, _, scrubber, seed = callbacks.load_scene(loaded, "PickCube-v1", 4)
    assert image.shape == (512, 512, 3) and image.std() > 10
    # Before any action the prediction shows the real first frame.
    assert predicted.shape == (512, 512, 3) and loaded.world is not None
    assert "PickCube-v1" in status and seed == 4 and scrubber.maximum == 1


def test_without_a_checkpoint_the_page_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("PHYSGEN_CHECKPOINT", str(tmp_path / "missing"))
    assert "Prediction is not available" in callbacks.prediction_banner()
    assert model_store.shared_model()[0] is None


def test_a_bad_precision_setting_is_named_in_the_banner(monkeypatch):
    monkeypatch.setenv("PHYSGEN_PRECISION", "fp8")
    assert model_store.shared_model()[0] is None
    banner = callbacks.prediction_banner()
    assert "Prediction is not available" in banner and "auto, fp32, bf16; got 'fp8'" in banner


def test_unknown_scene_keeps_the_session(loaded):
    session, image, _, _, status, *_ = callbacks.load_scene(loaded, "Teleport-v9", 1)
    assert session is loaded and session.scene == "PickCube-v1"
    assert "unknown scene" in status and "PushCube-v1" in status
    assert image.std() > 10


def test_bad_seed_is_an_inline_message(loaded):
    session, _, _, _, status, *_ = callbacks.load_scene(loaded, "PickCube-v1", -3)
    assert session.scene == "PickCube-v1" and "seed" in status and status.startswith("⚠️")


def test_random_seed_is_reported(loaded):
    *_, seed = callbacks.load_scene(loaded, "PickCube-v1", 0, random_seed=True)
    assert isinstance(seed, int) and 0 <= seed < EVAL_SEED_START and loaded.seed == seed


def test_run_streams_prediction_before_simulation_and_plots_divergence(loaded):
    callbacks.load_scene(loaded, "PickCube-v1", 4)
    before = loaded.real[-1]
    outputs = list(callbacks.run_actions(loaded, "right 5cm; down 3cm"))
    # Per chunk: the predicted frame first, then the simulator's; then a summary.
    assert len(outputs) == 2 * 2 and "imagined" in outputs[0].status
    session, image, predicted, _, status, divergence, trajectory, scrubber = outputs[-1]
    assert len(session.real) == len(session.predicted) == 1 + 2 and not np.array_equal(before, session.real[-1])
    assert len(session.executed) == len(session.commanded) == 1 + 16
    assert "Executed 16 control steps" in status and "PSNR" in status
    assert [d["chunk"] for d in session.divergence] == [1, 2]
    assert len(divergence.data) == 2 and len(divergence.data[0].x) == 2
    assert {t.name for t in trajectory.data} == {"commanded", "executed (simulator)"}
    assert scrubber.maximum == 2 and scrubber.value == 2


def test_a_new_run_continues_the_episode(loaded):
    callbacks.load_scene(loaded, "PickCube-v1", 4)
    last(callbacks.run_actions(loaded, "up 2cm"))
    last(callbacks.run_actions(loaded, "wait"))
    assert loaded.num_chunks == 2 and loaded.world.rollout.step_index == 3


def test_partial_chunks_are_padded_for_both(loaded):
    callbacks.load_scene(loaded, "PickCube-v1", 4)
    status = last(callbacks.run_actions(loaded, "[0 0.2 0 0 0 0 1] x3")).status
    assert "5 hold steps" in status and len(loaded.executed) == 1 + 8


def test_parse_error_is_inline_and_keeps_frames(loaded):
    n = len(loaded.real)
    outputs = list(callbacks.run_actions(loaded, "right 5cm; jump"))
    status = outputs[-1].status
    assert len(outputs) == 1 and "column 12" in status and "jump" in status
    assert len(loaded.real) == n


def test_run_before_load_asks_to_load():
    status = last(callbacks.run_actions(StudioSession(), "wait")).status
    assert "Load a scene first" in status


def test_preview_lists_commands():
    rows, message = callbacks.preview_actions("close; up 2cm x2")
    assert [r[0] for r in rows] == ["close", "up 2cm x2"] and "24 control steps" in message


def test_scrubber_shows_an_earlier_chunk(loaded):
    callbacks.load_scene(loaded, "PickCube-v1", 4)
    last(callbacks.run_actions(loaded, "right 5cm; down 3cm"))
    sim_image, _, _, status = callbacks.scrub(loaded, 0)
    assert np.array_equal(sim_image, callbacks.upscale(loaded.real[0])) and "chunk 0 of 2" in status


def test_click_adds_a_move_to_the_clicked_table_point(loaded):
    callbacks.load_scene(loaded, "PushCube-v1", 1)
    session, image, text, status = callbacks.click_target(loaded, "", 6, Click(256, 330))
    assert text.startswith("move ") and "Target 1" in status
    (_, target), = session.targets
    assert target[2] == pytest.approx(0.06)
    # The marker is drawn in yellow on the simulator image.
    assert ((image[..., 0] > 240) & (image[..., 1] > 200) & (image[..., 2] < 30)).sum() > 20
    # Running the text brings the gripper near the target.
    last(callbacks.run_actions(loaded, text + "\nwait"))
    assert np.linalg.norm(loaded.executed[-1] - target) < 0.02


def test_clicks_chain_from_the_end_of_the_typed_path(loaded):
    callbacks.load_scene(loaded, "PushCube-v1", 1)
    _, _, text, _ = callbacks.click_target(loaded, "up 5cm", 10, Click(256, 330))
    _, _, text2, _ = callbacks.click_target(loaded, "", 10, Click(256, 330))
    dz_after_up = float(text.splitlines()[-1].split()[3])
    dz_direct = float(text2.splitlines()[-1].split()[3])
    assert dz_after_up == pytest.approx(dz_direct - 5, abs=0.2)


@pytest.mark.parametrize("xy, height, expected", [((3, 3), 8, "outside the reachable workspace"), ((256, 330), 80, "height must be")])
def test_bad_clicks_are_inline_messages(loaded, xy, height, expected):
    callbacks.load_scene(loaded, "PushCube-v1", 1)
    session, image, text, status = callbacks.click_target(loaded, "wait", height, Click(*xy))
    assert status.startswith("⚠️") and expected in status and text == "wait" and not session.targets


def test_preset_writes_commands_that_reach_the_object(loaded):
    callbacks.load_scene(loaded, "PickCube-v1", 4)
    text, status = callbacks.apply_preset(loaded, "Grasp and lift")
    assert "close" in text and "Grasp and lift" in status
    cube_before = loaded.sim.object_positions["cube"]
    last(callbacks.run_actions(loaded, text))
    assert loaded.sim.object_positions["cube"][2] > cube_before[2] + 0.05


def test_unknown_preset_is_an_inline_message(loaded):
    _, status = callbacks.apply_preset(loaded, "Juggle")
    assert status.startswith("⚠️") and "Grasp and lift" in status


def test_policy_mode_executes_proposed_chunks(loaded):
    callbacks.load_scene(loaded, "PushCube-v1", 2)
    session, *_, status, _, _, _ = last(let_physgen_act(loaded, 2))
    assert len(session.actions) == 2 and len(session.real) == 3
    assert "acted for 2 chunk(s)" in status and "control steps" in status


def test_policy_mode_rejects_a_bad_chunk_count(loaded):
    status = last(let_physgen_act(loaded, 0)).status
    assert status.startswith("⚠️") and "from 1 to" in status


def test_export_then_load_back_replays_the_same_actions(loaded, tmp_path):
    callbacks.load_scene(loaded, "PushCube-v1", 3)
    last(callbacks.run_actions(loaded, "right 4cm; close"))
    video, actions_json, _, status = export_episode(loaded)
    assert video.endswith(".mp4") and "3 frames" in status
    import mediapy

    assert mediapy.read_video(video).shape[0] == 3
    record = json.loads(open(actions_json).read())
    assert record["scene"] == "PushCube-v1" and record["seed"] == 3 and len(record["actions"]) == 16
    callbacks.load_scene(loaded, "PickCube-v1", 0)
    *_, seed, scene, text = load_action_file(loaded, actions_json)
    assert (loaded.scene, seed, scene) == ("PushCube-v1", 3, "PushCube-v1") and text == "right 4cm; close"


def test_a_bad_actions_file_is_an_inline_message(loaded, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "physgen-actions/1", "scene": "PushCube-v1", "seed": 0, "actions": [[0, 0, 9, 0, 0, 0, 1]]}')
    out = load_action_file(loaded, str(bad))
    assert out[4].startswith("⚠️") and "[-1, 1]" in out[4] and loaded.scene is not None


def test_export_before_running_says_so():
    video, actions_json, _, status = export_episode(StudioSession())
    assert video is None and actions_json is None and "Nothing to export" in status


def test_without_a_simulator_predictions_still_run(tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("PHYSGEN_CHECKPOINT", str(tiny_checkpoint))

    def no_vulkan(self, scene, seed=0):
        raise SimulatorUnavailable("no Vulkan device (test)")

    monkeypatch.setattr(callbacks.Simulator, "reset", no_vulkan)
    session, image, predicted, _, status, *_ = callbacks.load_scene(None, "PushCube-v1", 5)
    assert "simulator cannot start" in status and "no Vulkan device" in status
    assert session.sim is None and predicted.std() > 10 and session.seed == 0
    final = last(callbacks.run_actions(session, "right 5cm"))
    assert len(session.predicted) == 2 and "prediction only" in final.status


def test_permanence_probe_plots_presence_for_truth_prediction_and_tokenizer(loaded):
    from app.permanence_tab import run_permanence_probe

    outputs = list(run_permanence_probe(loaded, 0))
    session, real, predicted, plot, status, scrubber = outputs[-1]
    assert session.scene == "PermanenceProbe-v1" and len(session.real) == len(session.predicted)
    assert {t.name for t in plot.data} == {
        "ground truth (segmentation)", "PhysGen prediction", "PhysGen one chunk ahead of the real frames",
        "tokenizer ceiling (VAE round trip of the real frames)",
    }
    assert "fully hidden at chunks" in status and scrubber.interactive and scrubber.maximum == len(session.real) - 1
    assert real.std() > 10 and predicted.shape == (512, 512, 3)


def test_two_sessions_share_the_model_but_not_their_state(loaded, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("PHYSGEN_CHECKPOINT", str(tiny_checkpoint))
    callbacks.load_scene(loaded, "PickCube-v1", 4)
    other, *_ = callbacks.load_scene(None, "PushCube-v1", 7)
    try:
        last(callbacks.run_actions(other, "right 3cm x2"))
        assert loaded.num_chunks == 0 and loaded.world.rollout.step_index == 1
        assert other.num_chunks == 2 and other.world.rollout.step_index == 3
        assert other.world.model is loaded.world.model and other.sim is not loaded.sim
    finally:
        other.close()


def test_the_studio_takes_the_chunk_length_from_the_loaded_model(make_tiny_checkpoint, monkeypatch, tmp_path):
    from app.permanence_tab import run_permanence_probe

    monkeypatch.setenv("PHYSGEN_CHECKPOINT", str(make_tiny_checkpoint(chunk=4)))
    session, *_ = callbacks.load_scene(None, "PushCube-v1", 1)
    try:
        assert session.world.chunk == 4 and "chunk of 4 actions" in callbacks.prediction_banner()
        assert "12 control steps, 3 chunk(s)" in callbacks.preview_actions("wait 3")[1]
        # Typed runs: three raw steps become one chunk of 4 for both the simulator and PhysGen.
        status = last(callbacks.run_actions(session, "[0 0.2 0 0 0 0 1] x3")).status
        assert "Executed 4 control steps (1 chunks; 1 hold steps" in status
        assert [a.shape for a in session.actions] == [(4, 7)] and len(session.executed) == 1 + 4
        assert session.num_chunks == 1 and session.world.rollout.step_index == 2
        # Policy runs: PhysGen proposes chunks of its own length.
        outputs = list(let_physgen_act(session, 1))
        assert "proposes 4 actions" in outputs[0].status and " 8 " not in outputs[0].status
        assert session.actions[-1].shape == (4, 7) and len(session.executed) == 1 + 8
        # The export records the chunk length the actions ran with.
        _, actions_json, _, _ = export_episode(session)
        assert json.loads(open(actions_json).read())["chunk"] == 4
        # The probe records the simulator at the model's chunk boundaries: one real frame per predicted one.
        *_, (probe_session, *_, status, _) = run_permanence_probe(session, 0)
        assert len(probe_session.real) == len(probe_session.predicted) > 2 and "hidden" in status
    finally:
        session.close()
