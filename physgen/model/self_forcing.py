"""Self forcing: training windows whose context frames are the model's own open-loop predictions.

Teacher forcing feeds the model real context frames, but a rollout feeds it its own. Its errors
compound: on the permanence probe, one-step predictions from real context keep the red cube
(presence 0.92 after it reappears, as the tokenizer's ceiling), while the open-loop rollout of the
same actions loses the arm's pose and the cube by chunk 5 (model card, session 8). Context noise
imitates imperfect frames with Gaussian noise; self forcing feeds the imperfections the model
actually makes (scheduled sampling, DAgger-style data for video models).

A self-forced window keeps its first frame real and replaces frames 1 .. H-2 by what the model
imagines from it, open loop, under the window's recorded actions, sampled exactly as a rollout
samples (no gradient). The last frame is only ever a target. The loss then asks for the real next
frames from this context (PhysGen.loss, `context`).
"""

from __future__ import annotations

import torch

from physgen.model.world_model import PhysGen


@torch.no_grad()
def own_context(model: PhysGen, frame_tokens: torch.Tensor, actions: torch.Tensor, action_valid: torch.Tensor,
                boa: torch.Tensor | None, rows: torch.Tensor, sample_steps: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """frame_tokens (B, H, K, D) with the rows where `rows` (B,) is True replaced, from step 1 to
    H - 2, by the model's open-loop predictions from step 0 under actions (B, H + lmtp, L, 7)."""
    context = frame_tokens.clone()
    selected = rows.nonzero()[:, 0]
    h = frame_tokens.shape[1]
    if len(selected) == 0 or h < 3:
        return context
    frames, acts = frame_tokens[selected].clone(), actions[selected]  # (M, H, K, D), (M, H + lmtp, L, 7)
    boa_steps = model.boa_steps(len(selected), h, None if boa is None else boa[selected], action_valid[selected])
    guided = model.config.cfg_scale != 1.0
    for n in range(1, h - 1):
        h_frame, h_action = model.window_outputs(frames[:, :n], None, acts, boa_steps[:, :n])  # outputs of steps 0 .. n-1
        last_frame, last_action, next_chunk = h_frame[:, -1:], h_action[:, -1:, -1], acts[:, n : n + 1]
        z = model.frame_condition(last_frame, last_action, next_chunk, None)[:, 0]  # (M, K, d)
        z_uncond = model.frame_condition(last_frame, last_action, None, None)[:, 0] if guided else None
        frames[:, n] = model.sample_frame(z, frames[:, n - 1], sample_steps, generator, z_uncond)
    context[selected] = frames
    return context
