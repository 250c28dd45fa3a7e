"""The studio callbacks with a fake simulator and a tiny untrained checkpoint: the app code in
`make test-fast`. The same callbacks against real ManiSkill physics: tests/test_app_callbacks.py."""

import inspect
import json

import numpy as np
import pytest
from fake_simulator import FakeSimulator

from app import callbacks
from app.export import export_episode, load_action_file
from app.policy import let_physgen_act
from physgen.sim import Simulator


@pytest.fixture
def load(monkeypatch, tiny_checkpoint):
    """load(scene, seed, session=None) -> the session after the Load callback, on the fake simulator."""
    monkeypatch.setattr(callbacks, "Simulator", FakeSimulator)
    monkeypatch.setenv("PHYSGEN_CHECKPOINT", str(tiny_checkpoint))

    def load_scene(scene="PushCube-v1", seed=1, session=None):
        return callbacks.load_scene(session, scene, seed)[0]

    return load_scene


def last(generator):
    *_, final = generator
    return final


def test_the_fake_has_the_simulators_interface():
    public = {name for name in dir(FakeSimulator) if not name.startswith("_")}
    assert public <= set(dir(Simulator))
    for name in ("reset", "step"):
        assert list(inspect.signature(getattr(FakeSimulator, name)).parameters) == list(inspect.signature(getattr(Simulator, name)).parameters)


def test_run_streams_prediction_before_simulation_and_plots_divergence(load):
    session = load()
    outputs = list(callbacks.run_actions(session, "right 5cm; down 3cm"))
    assert len(outputs) == 2 * 2 + 1 and "imagined" in outputs[0].status and "done" in outputs[1].status
    session, image, predicted, status, divergence, trajectory, scrubber = outputs[-1]
    assert len(session.real) == len(session.predicted) == 1 + 2
    assert len(session.executed) == len(session.commanded) == 1 + 16
    assert "Executed 16 control steps" in status and "PSNR" in status
    assert [d["chunk"] for d in session.divergence] == [1, 2] and len(divergence.data[0].x) == 2
    assert image.shape == predicted.shape == (512, 512, 3) and scrubber.maximum == 2
    # The fake gripper followed the commands: 5 cm right (+y) and 3 cm down, as the commanded path says.
    np.testing.assert_allclose(session.executed[-1], session.commanded[-1], atol=1e-6)
    np.testing.assert_allclose(session.executed[-1] - session.executed[0], [0, 0.05, -0.03], atol=0.005)


def test_a_new_run_continues_the_episode_and_partial_chunks_are_padded(load):
    session = load()
    last(callbacks.run_actions(session, "up 2cm"))
    status = last(callbacks.run_actions(session, "[0 0.2 0 0 0 0 1] x3")).status
    assert "5 hold steps" in status and session.num_chunks == 2 and session.world.rollout.step_index == 3


def test_the_studio_takes_the_chunk_length_from_the_loaded_model(load, make_tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("PHYSGEN_CHECKPOINT", str(make_tiny_checkpoint(chunk=4)))
    session = load()
    assert session.world.chunk == 4 and "chunk of 4 actions" in callbacks.prediction_banner()
    assert "12 control steps, 3 chunk(s)" in callbacks.preview_actions("wait 3")[1]
    status = last(callbacks.run_actions(session, "[0 0.2 0 0 0 0 1] x3")).status
    assert "Executed 4 control steps (1 chunks; 1 hold steps" in status and len(session.executed) == 1 + 4
    outputs = list(let_physgen_act(session, 2))
    assert "proposes 4 actions" in outputs[0].status and [a.shape for a in session.actions] == [(4, 7)] * 3
    _, actions_json, _ = export_episode(session)
    assert json.loads(open(actions_json).read())["chunk"] == 4


def test_policy_mode_executes_proposed_chunks(load):
    session = load()
    status = last(let_physgen_act(session, 2)).status
    assert len(session.actions) == 2 and len(session.real) == len(session.predicted) == 3
    assert "acted for 2 chunk(s)" in status and "No success after 16 control steps" in status


def test_export_then_load_back_gives_the_same_scene_seed_and_text(load):
    session = load("PushCube-v1", 3)
    last(callbacks.run_actions(session, "right 4cm; close"))
    video, actions_json, status = export_episode(session)
    assert video.endswith(".mp4") and "3 frames" in status
    load("PickCube-v1", 0, session)
    *_, seed, scene, text = load_action_file(session, actions_json)
    assert (session.scene, seed, scene, text) == ("PushCube-v1", 3, "PushCube-v1", "right 4cm; close")


def test_two_sessions_share_the_model_but_not_their_state(load):
    first, second = load("PickCube-v1", 4), load("PushCube-v1", 7)
    last(callbacks.run_actions(second, "right 3cm x2"))
    assert first.num_chunks == 0 and first.world.rollout.step_index == 1
    assert second.num_chunks == 2 and second.world.rollout.step_index == 3
    assert second.world.model is first.world.model and second.world is not first.world and second.sim is not first.sim
