"""The world-model env (tiny untrained model): the simulator's interface, policy mode, bad input."""

import numpy as np
import pytest

from physgen.camera import IMAGE_SIZE
from physgen.errors import InputError
from physgen.world_env import WorldModelEnv


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


def test_policy_mode_proposes_a_chunk_and_lookahead(env):
    env.reset(frame=first_frame())
    plan = env.act()
    assert plan.actions.shape == (4, 7) and np.abs(plan.actions).max() <= 1
    assert plan.lookahead.shape == (2, 4, 7) and plan.imagined.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    env.observe(first_frame(), plan.actions)
    assert env.act().actions.shape == (4, 7)


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


@pytest.mark.sim
def test_world_model_and_simulator_share_reset_and_step(env, sim):
    env.simulator = sim
    actions = np.tile(np.array([0, 0.2, 0, 0, 0, 0, 1], np.float32), (8, 1))
    for stepper in (sim, env):
        first = stepper.reset("PushCube-v1", 0)
        assert first.frame.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        assert stepper.step(actions).frame.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
