"""Sampling is reentrant: sessions that share one model can predict at the same time."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from physgen.model.rollout import Rollout


def rollout_frames(model, seed: int, sample_steps: int, steps: int = 3) -> torch.Tensor:
    """(steps, 1, K, D) frames of a rollout with random actions, seeded."""
    cfg = model.config
    generator = torch.Generator().manual_seed(seed)
    rollout = Rollout(model)
    rollout.start(torch.randn(1, cfg.num_frame_tokens, cfg.token_dim, generator=generator))
    frames = []
    for _ in range(steps):
        actions = torch.rand(1, cfg.chunk, cfg.action_dim, generator=generator) * 2 - 1
        tokens = rollout.predict_frame(actions, sample_steps, generator)
        rollout.observe(tokens, actions)
        frames.append(tokens)
    return torch.stack(frames)


@pytest.mark.parametrize("scheduler", ["flow", "ddim", "ddpm"])
def test_two_threads_sampling_one_model_give_the_sequential_results(make_tiny_model, scheduler):
    model, _ = make_tiny_model(scheduler=scheduler)
    # Different step counts: a scheduler shared between the two loops would mix their timesteps.
    jobs = [(1, 3), (2, 8)] * 2
    sequential = [rollout_frames(model, *job) for job in jobs]
    start = threading.Barrier(len(jobs))

    def at_once(job):
        start.wait()
        return rollout_frames(model, *job)

    with ThreadPoolExecutor(len(jobs)) as pool:
        concurrent = list(pool.map(at_once, jobs))
    for alone, together in zip(sequential, concurrent):
        torch.testing.assert_close(together, alone, rtol=0, atol=1e-6)
