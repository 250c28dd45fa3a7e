"""The world-model env (tiny untrained model): the env interface (physgen.env), forking, the policy's
action queue (physgen.model.policy), bad input."""

import numpy as np
import pytest
from fake_simulator import FakeSimulator

from physgen import IMAGE_SIZE
from physgen.env import Env, EnvStep
from physgen.errors import InputError
from physgen.model.policy import WorldModelPolicy
from physgen.model.world_env import WorldModelEnv, WorldObservation
from physgen.sim.simulator import SimConfig, Simulator


@pytest.fixture
def env(make_tiny_model):
    # A chunk other than the default, and an L-MTP block of 3 chunks: the lookahead has 2.
    return WorldModelEnv(*make_tiny_model(chunk=4, lmtp=3))


def first_frame():
    return np.random.default_rng(0).integers(0, 255, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)


def test_step_predicts_one_frame_per_chunk_and_pads(env):
    obs = env.reset(frame=first_frame())
    assert obs.elapsed_steps == 0
    result = env.step(np.zeros((10, 7), np.float32))
    assert result.frames.shape == (3, IMAGE_SIZE, IMAGE_SIZE, 3) and result.frames.dtype == np.uint8
    assert result.padded_steps == 2 and result.observation.elapsed_steps == 12


def test_same_seed_same_prediction(env):
    actions = np.zeros((8, 7), np.float32)
    env.reset(frame=first_frame(), seed=3)
    a = env.step(actions).frames
    env.reset(frame=first_frame(), seed=3)
    b = env.step(actions).frames
    np.testing.assert_array_equal(a, b)


def test_predict_is_steps_frame_without_committing_it(env):
    chunk = np.random.default_rng(2).uniform(-0.5, 0.5, (env.chunk, 7)).astype(np.float32)
    env.reset(frame=first_frame(), seed=4)
    predicted = env.predict(chunk)
    assert env.elapsed_steps == 0 and env.rollout.step_index == 1  # nothing committed
    env.reset(frame=first_frame(), seed=4)
    np.testing.assert_array_equal(predicted, env.step(chunk).frame)


def test_all_envs_satisfy_the_env_protocol(env):
    for stepper in (env, Simulator(), FakeSimulator()):  # Simulator() opens no ManiSkill env until reset
        assert isinstance(stepper, Env), type(stepper).__name__


def test_both_envs_return_one_frame_per_chunk_in_the_same_type(env):
    fake = FakeSimulator(SimConfig(chunk_len=env.chunk))
    fake.reset("PushCube-v1", 0)
    env.reset(frame=first_frame())
    for stepper in (env, fake):
        result = stepper.step(np.zeros((2 * env.chunk + 1, 7), np.float32))
        assert isinstance(result, EnvStep) and result.frames.shape == (3, IMAGE_SIZE, IMAGE_SIZE, 3)
        np.testing.assert_array_equal(result.frame, result.frames[-1])


def test_fork_restores_the_history_and_continues_the_same(env):
    actions = np.random.default_rng(1).uniform(-0.5, 0.5, (3 * env.chunk, 7)).astype(np.float32)
    env.reset(frame=first_frame(), seed=2)
    env.step(actions[: env.chunk])
    saved = env.get_state()
    history = [(s.frame, s.actions) for s in env.rollout.steps]
    original = env.step(actions[env.chunk :]).frames
    observation = env.set_state(saved)
    assert isinstance(observation, WorldObservation) and observation.elapsed_steps == env.chunk
    assert [(s.frame, s.actions) for s in env.rollout.steps] == history and env.rollout.step_index == 2
    np.testing.assert_array_equal(env.step(actions[env.chunk :]).frames, original)


def test_fork_of_a_long_history_keeps_the_window(make_tiny_model):
    """Past the receptive window the snapshot keeps only the window; the replay still matches."""
    env = WorldModelEnv(*make_tiny_model(chunk=4, history=2, depth=1))
    env.reset(frame=first_frame(), seed=0)
    env.step(np.full((5 * 4, 7), 0.1, np.float32))
    saved = env.get_state()
    original = env.step(np.zeros((8, 7), np.float32)).frames
    env.set_state(saved)
    np.testing.assert_allclose(env.step(np.zeros((8, 7), np.float32)).frames, original, atol=1)


def test_policy_queues_one_chunk_and_keeps_the_lookahead(env):
    env.reset(frame=first_frame())
    policy = WorldModelPolicy(env)
    first = policy.select_action(WorldObservation(first_frame(), 0))
    plan = policy.last_plan
    assert first.shape == (7,) and policy.queued == env.chunk - 1 and np.abs(plan.actions).max() <= 1
    assert plan.lookahead.shape == (2, 4, 7) and plan.imagined.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    rest = [policy.select_action(None) for _ in range(env.chunk - 1)]  # from the queue: no observation needed
    np.testing.assert_array_equal(np.stack([first, *rest]), plan.actions)
    assert policy.last_plan is plan and env.elapsed_steps == 0


def test_policy_shows_the_model_the_reached_frame_before_replanning(env):
    env.reset(frame=first_frame())
    policy = WorldModelPolicy(env)
    chunk = policy.select_chunk(WorldObservation(first_frame(), 0))
    assert chunk.shape == (4, 7) and policy.queued == 0
    policy.select_chunk(WorldObservation(first_frame(), 4))
    assert env.elapsed_steps == 4 and env.rollout.step_index == 2  # observed the reached frame once


def test_policy_drops_its_lookahead_when_the_env_is_stepped_by_others(env):
    env.reset(frame=first_frame())
    policy = WorldModelPolicy(env)
    policy.select_chunk(WorldObservation(first_frame(), 0))
    env.step(np.zeros((4, 7), np.float32))  # user-given actions replace the plan
    policy.select_chunk(WorldObservation(first_frame(), 4))
    assert env.elapsed_steps == 4 and env.rollout.step_index == 2  # the stale chunk was not observed on top


def test_bad_input_is_rejected(env):
    with pytest.raises(InputError, match="reset"):
        env.step(np.zeros((4, 7)))
    with pytest.raises(InputError, match="first frame"):
        env.reset(frame=np.zeros((64, 64, 3), np.uint8))
    env.reset(frame=first_frame())
    with pytest.raises(InputError, match="finite"):
        env.step([[0, 0, np.nan, 0, 0, 0, 1]])
    with pytest.raises(InputError, match="one chunk"):
        env.observe(first_frame(), np.zeros((3, 7)))
    with pytest.raises(InputError, match="one chunk"):
        env.predict(np.zeros((env.chunk + 1, 7)))
    with pytest.raises(InputError, match="WorldState"):
        env.set_state("chunk 3")


@pytest.mark.sim
def test_world_model_and_simulator_share_reset_and_step(env, sim):
    env.simulator = sim
    actions = np.tile(np.array([0, 0.2, 0, 0, 0, 0, 1], np.float32), (8, 1))
    for stepper in (sim, env):
        first = stepper.reset("PushCube-v1", 0)
        assert first.frame.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        assert stepper.step(actions).frame.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
