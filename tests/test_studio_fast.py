"""The studio callbacks with a fake simulator and a tiny untrained checkpoint: the app code in
`make test-fast`. The same callbacks against real ManiSkill physics: tests/test_app_callbacks.py."""

import inspect
import json

import numpy as np
import pytest
from fake_simulator import FakeSimulator

from app import callbacks
from app import session as session_module
from app.env_pool import EnvPool, PoolConfig
from app.export import export_episode, load_action_file
from app.policy import let_physgen_act
from physgen.sim.simulator import Simulator


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
    assert len(outputs) == 2 * 2 and "imagined" in outputs[0].status and "done" in outputs[1].status
    session, image, predicted, branch, status, divergence, trajectory, scrubber = outputs[-1]
    assert len(session.real) == len(session.predicted) == 1 + 2
    assert len(session.executed) == len(session.commanded) == 1 + 16
    assert "Executed 16 control steps" in status and "PSNR" in status
    assert [d["chunk"] for d in session.divergence] == [1, 2] and len(divergence.data[0].x) == 2
    assert image.shape == predicted.shape == (512, 512, 3) and scrubber.maximum == 2
    # The fake gripper followed the commands: 5 cm right (+y) and 3 cm down, as the commanded path says.
    np.testing.assert_allclose(session.executed[-1], session.commanded[-1], atol=1e-6)
    np.testing.assert_allclose(session.executed[-1] - session.executed[0], [0, 0.05, -0.03], atol=0.005)


def test_the_update_with_only_physgens_frame_leaves_the_plots_as_they_are(load):
    import gradio as gr

    session = load()
    imagined, done, *_ = callbacks.run_actions(session, "right 5cm; down 3cm")
    assert imagined.divergence == gr.skip() and imagined.trajectory == gr.skip()  # an update that changes nothing
    assert len(done.divergence.data[0].x) == 1 and len(done.trajectory.data) >= 1


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
    _, actions_json, _, _ = export_episode(session)
    assert json.loads(open(actions_json).read())["chunk"] == 4


def test_policy_mode_executes_proposed_chunks(load):
    session = load()
    status = last(let_physgen_act(session, 2)).status
    assert len(session.actions) == 2 and len(session.real) == len(session.predicted) == 3
    assert "acted for 2 chunk(s)" in status and "No success after 16 control steps" in status


def test_export_then_load_back_gives_the_same_scene_seed_and_text(load):
    session = load("PushCube-v1", 3)
    last(callbacks.run_actions(session, "right 4cm; close"))
    video, actions_json, branch_files, status = export_episode(session)
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


def test_fork_restores_the_saved_state_and_plays_both_branches(load):
    session = load()
    last(callbacks.run_actions(session, "right 2cm x3"))
    sim_saved, world_saved = session.states[1]
    fork = callbacks.fork_here(session, 1)
    assert "Forked at chunk 1" in fork.status and session.num_chunks == 1 and session.other.fork_chunk == 1
    np.testing.assert_allclose(session.sim.ee_position, sim_saved.state["ee"])  # the simulator is back at chunk 1
    np.testing.assert_allclose(session.executed[-1], sim_saved.state["ee"])
    assert [s.frame for s in session.world.rollout.steps] == [s.frame for s in world_saved.history]
    assert session.world.rollout.step_index == world_saved.next_step == 2
    final = last(callbacks.run_actions(session, "left 2cm"))
    assert session.num_chunks == 2 and len(session.other.real) == 4  # branch A keeps its 3 chunks
    assert final.branch_frame.visible and {t.name for t in final.divergence.data} >= {"PSNR (dB) A", "PSNR (dB) B"}
    video, actions_json, branch_files, status = export_episode(session)
    assert "Both branches" in status and len(branch_files) == 2 and "branchB" in actions_json
    assert len(json.loads(open(branch_files[1]).read())["actions"]) == 3 * 8


def exported_text(session, branch="B"):
    """The actions file's program text of a branch, and its actions."""
    from physgen.data.episode_io import read_action_file

    _, actions_json, branch_files, _ = export_episode(session)
    record = read_action_file(actions_json if branch == "B" else branch_files[1])
    return record.program_text(), record.actions


def replays(text, actions):
    from physgen.actions.language import parse_actions

    parsed = parse_actions(text, max_steps=10**6).actions
    return len(parsed) == len(actions) and np.allclose(parsed, actions, atol=1e-5)


def test_both_branches_export_the_programs_as_typed(load):
    session = load()
    for program in ("right 2cm", "up 2cm x2"):
        last(callbacks.run_actions(session, program))
    callbacks.fork_here(session, 1)
    last(callbacks.run_actions(session, "left 2cm"))
    assert exported_text(session, "A")[0] == "right 2cm\nup 2cm x2"
    text, actions = exported_text(session, "B")
    assert text == "right 2cm\nleft 2cm" and replays(text, actions)


def test_a_fork_inside_a_program_exports_its_first_part_as_steps_that_replay(load):
    session = load()
    last(callbacks.run_actions(session, "right 2cm x3"))
    callbacks.fork_here(session, 2)
    last(callbacks.run_actions(session, "close"))
    text, actions = exported_text(session, "B")
    assert text.startswith("[") and text.endswith("\nclose") and len(actions) == 3 * 8 and replays(text, actions)


def test_the_gripper_stays_as_the_last_program_left_it(load):
    session = load()
    last(callbacks.run_actions(session, "close"))
    last(callbacks.run_actions(session, "up 3cm"))
    assert session.gripper == -1 and (session.actions[-1][:, 6] == -1).all()  # the cube stays in the hand
    callbacks.drive(session, "w")
    assert (session.actions[-1][:, 6] == -1).all()
    assert callbacks.preview_actions("right 2cm", session)[0][0][-1] == "close"  # so does the preview of the next Run


def test_padded_programs_and_policy_chunks_export_a_text_that_replays(load):
    session = load()
    last(callbacks.run_actions(session, "[0.2 0 0 0 0 0 1] x3"))  # 3 steps, padded with 5 hold steps
    last(let_physgen_act(session, 1))
    last(callbacks.run_actions(session, "right 2cm"))
    text, actions = exported_text(session)
    assert text.startswith("[0.2 0 0 0 0 0 1] x3\n") and text.endswith("\nright 2cm") and replays(text, actions)


def test_a_fork_puts_the_gripper_back_as_it_was_at_that_chunk(load):
    session = load()
    last(callbacks.run_actions(session, "right 2cm; close"))
    callbacks.fork_here(session, 1)
    assert session.gripper == 1
    callbacks.drive(session, "w")
    assert (session.actions[-1][:, 6] == 1).all()


@pytest.mark.parametrize("chunk, words", [(5, "no chunk 5"), (-1, "no chunk -1"), ("two", "integer"), (1.5, "integer")])
def test_a_fork_at_a_chunk_that_does_not_exist_is_a_message(load, chunk, words):
    session = load()
    last(callbacks.run_actions(session, "right 2cm"))
    status = callbacks.fork_here(session, chunk).status
    assert status.startswith("⚠️") and words in status and session.num_chunks == 1 and session.other is None


def test_drive_runs_one_chunk_in_both_envs_and_reports_latency(load):
    session = load()
    *view, latency = callbacks.drive(session, "d")
    assert session.num_chunks == 1 and len(session.predicted) == len(session.real) == 2
    assert "model" in latency and "simulator" in latency and "total" in latency
    np.testing.assert_allclose(session.executed[-1] - session.executed[0], [0, 0.03, 0], atol=0.002)  # D: 3 cm right
    callbacks.drive(session, "space")
    assert session.gripper == -1 and session.actions[-1][0, 6] == -1 and [text for text, _ in session.texts[-2:]] == ["right 3cm", "close"]


def test_a_bad_drive_key_is_a_message_and_keeps_the_session(load):
    session = load()
    *view, _ = callbacks.drive(session, "x")
    assert view[4].startswith("⚠️") and "accepted" in view[4] and session.num_chunks == 0


def test_the_episode_is_capped_and_the_page_says_so(load, monkeypatch):
    monkeypatch.setattr(session_module, "MAX_EPISODE_CHUNKS", 4)
    session = load()
    for _ in range(6):
        *view, _ = callbacks.drive(session, "w")
    assert session.num_chunks == 6 and session.dropped == 3 and len(session.real) == len(session.states) == 4
    assert len(session.actions) == 3 and len(session.executed) == 1 + 3 * 8 and view[-1].minimum == 3
    assert "oldest 3 chunks were dropped" in view[4] and [d["chunk"] for d in session.divergence] == [3, 4, 5, 6]
    assert "no chunk 2" in callbacks.fork_here(session, 2).status
    assert "Forked at chunk 4" in callbacks.fork_here(session, 4).status
    _, actions_json, _, status = export_episode(session)
    # The video covers the kept chunks; the actions file replays from the scene's start: 4 chunks to chunk 4.
    assert "covers chunks 3 to 4" in status and len(json.loads(open(actions_json).read())["actions"]) == 4 * 8


def test_the_pool_hands_out_ready_simulators_and_keeps_at_most_per_scene():
    pool = EnvPool(FakeSimulator, 8, PoolConfig(per_scene=1))
    pool.prewarm(["PushCube-v1"]).join()
    ready = pool.acquire("PushCube-v1")
    assert ready.scene.env_id == "PushCube-v1"  # already reset: the env exists
    pool.refill("PushCube-v1", wait=True)
    other = FakeSimulator()
    other.reset("PushCube-v1", 0)
    pool.release(other)  # the pool is full: closed
    assert other.scene is None and pool.ready_count("PushCube-v1") == 1


def _overlap(sessions) -> int:
    """The most calls of one_at_a_time callbacks that ran at once, one thread per session given."""
    import threading
    import time

    from app.session import one_at_a_time

    running, most, guard = [0], [0], threading.Lock()

    @one_at_a_time
    def work(session):
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with guard:
            running[0] -= 1

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return most[0]


def test_one_sessions_requests_run_one_at_a_time():
    from app.session import StudioSession

    assert _overlap([StudioSession()] * 4) == 1


def test_different_sessions_do_not_wait_for_each_other():
    from app.session import StudioSession

    assert _overlap([StudioSession(), StudioSession()]) == 2


def test_a_streaming_callback_stays_a_generator_and_holds_the_lock_until_it_ends():
    import inspect

    from app.session import StudioSession, one_at_a_time

    @one_at_a_time
    def stream(session):
        for k in range(2):
            yield k, session.lock.locked()

    assert inspect.isgeneratorfunction(stream)
    assert list(stream(StudioSession())) == [(0, True), (1, True)]


def test_a_streaming_callback_may_be_resumed_on_another_thread():
    """Gradio runs each step of a generator on whichever worker thread is free."""
    from concurrent.futures import ThreadPoolExecutor

    from app.session import StudioSession, one_at_a_time

    @one_at_a_time
    def stream(session):
        yield "first"
        yield "second"

    session = StudioSession()
    updates = stream(session)
    with ThreadPoolExecutor(1) as first, ThreadPoolExecutor(1) as second:
        assert first.submit(next, updates).result() == "first"
        assert second.submit(next, updates).result() == "second"
        assert second.submit(next, updates, None).result() is None  # the end: the lock is released there
    assert not session.lock.locked()


def test_an_idle_session_gives_its_simulator_back_keeps_its_episode_and_resumes_where_it_was(load):
    from app.idle import IdleSimulators

    session = load()
    last(callbacks.run_actions(session, "right 5cm"))
    where, frames = session.sim.ee_position, len(session.real)
    idle = IdleSimulators(idle_s=60)
    idle.watch(session)
    assert idle.park_idle(now=session.last_used + 30) == 0  # not idle long enough
    assert idle.park_idle(now=session.last_used + 61) == 1
    assert session.sim is None and session.parked is not None and len(session.real) == frames
    # The next request takes a simulator again, restored where the parked one was.
    assert "Showing chunk 1" in callbacks.scrub(session, 1)[3]
    assert session.sim is not None and session.parked is None
    np.testing.assert_allclose(session.sim.ee_position, where)
    last(callbacks.run_actions(session, "right 5cm"))
    np.testing.assert_allclose(session.executed[-1] - where, [0, 0.05, 0], atol=0.005)


def test_a_session_with_a_request_running_is_not_parked(load):
    from app.idle import IdleSimulators

    session = load()
    idle = IdleSimulators(idle_s=60)
    idle.watch(session)
    with session.lock:  # a request holds the session
        assert idle.park_idle(now=session.last_used + 120) == 0
    assert session.sim is not None
