"""A quality floor for the shipped checkpoint: from stored real start frames (held-out seeds) and
their first chunk of expert actions, PhysGen's first predicted frame must stay close to the stored
real frame after that chunk. A broken checkpoint, tokenizer or sampler falls below the floor.

The floor sits a little under the shipped model's measured value (model card)."""

import json
from pathlib import Path

import mediapy
import numpy as np
import pytest

from physgen.eval.metrics import psnr
from physgen.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from physgen.model.world_env import WorldModelEnv

CASES = Path(__file__).resolve().parents[1] / "assets" / "quality_floor"
# The shipped checkpoint (v1.1, sampled with 3 steps and guidance at t/T >= 0.5, and the decoder
# tuned on predicted latents again in session 14) measures 28.35 dB (27.97, 29.65, 27.43) with the
# bf16 decode and 28.36 in fp32. Session 7's decoder gave 27.74 (27.73 in bf16); v1.1's first decoder
# 27.06; v1 26.71; v0.2 23.42; copying the start frame 27.01.
FLOOR_DB = 27.9


@pytest.mark.slow
def test_first_predicted_frame_of_the_shipped_checkpoint_stays_above_the_floor():
    model, tokenizer = load_checkpoint(DEFAULT_CHECKPOINT)
    cases = json.loads((CASES / "cases.json").read_text())
    scores = []
    for case in cases:
        actions = np.asarray(case["actions"], np.float32)
        assert len(actions) == model.config.chunk, "the stored chunk must match the checkpoint's chunk length"
        env = WorldModelEnv(model, tokenizer, seed=0)
        env.reset(frame=mediapy.read_image(CASES / f"{case['scene']}_start.png"), seed=case["seed"])
        predicted = env.step(actions).frame
        scores.append(psnr(predicted, mediapy.read_image(CASES / f"{case['scene']}_after.png")))
    assert len(scores) == 3
    assert np.mean(scores) > FLOOR_DB, f"first-frame PSNR {np.round(scores, 2)} fell below the floor {FLOOR_DB} dB"
