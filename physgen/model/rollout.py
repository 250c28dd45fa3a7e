"""Autoregressive rollouts of a PhysGen model, with or without the KV cache.

With the cache, each new step runs the transformer on its own K + L tokens only, attending to the
cached keys and values of the last history - 1 steps. Without it, every step recomputes all steps
that can still influence the output (depth x (history - 1) + 1 of them, through the stacked
sliding windows): the baseline for the KV-cache speed-up. Both give the same outputs
(tests/test_model.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from physgen.model.transformer import TokenLayout
from physgen.model.world_model import PhysGen


@dataclass
class _Step:
    frame: torch.Tensor  # (B, K, D)
    actions: torch.Tensor | None  # (B, L, 7), None for BOA or frames-only
    boa: bool


@dataclass
class Rollout:
    model: PhysGen
    use_cache: bool = True
    with_actions: bool = True  # False: a stage-1 video model (frames only)
    steps: list[_Step] = field(default_factory=list)
    step_index: int = 0  # absolute index of the next step
    h_frame: torch.Tensor | None = None  # (B, K, d) outputs of the last step's frame tokens
    h_last_action: torch.Tensor | None = None  # (B, d) output of the last step's last action token
    caches: list | None = None  # per-layer KV caches, owned here (not by the shared model)

    @torch.no_grad()
    def start(self, frame_tokens: torch.Tensor) -> None:
        """Begin at frame O_0 (B, K, D); its action slot is the BOA chunk."""
        self.steps, self.step_index = [], 0
        self.caches = self.model.backbone.new_kv_cache() if self.use_cache else None
        self.observe(frame_tokens, None)

    @torch.no_grad()
    def observe(self, frame_tokens: torch.Tensor, actions: torch.Tensor | None) -> None:
        """Append step [O_n; A_n]: the frame reached (real or predicted) and the chunk that led to it."""
        step = _Step(frame_tokens, actions, boa=actions is None)
        self.steps = (self.steps + [step])[-self.model.backbone.receptive_steps :]
        if self.use_cache:
            out = self._run([step], self.step_index, commit=True)
            self.model.backbone.trim_kv_cache(self.caches, self.step_index + 1)
        else:
            out = self._run(self.steps, self.step_index - len(self.steps) + 1, commit=False)
        self._keep_outputs(out)
        self.step_index += 1

    @torch.no_grad()
    def replay(self, steps: list[_Step], next_index: int) -> None:
        """Rebuild the state after `steps` (the history window, e.g. a saved `self.steps`) ending
        just before step next_index. The window is the receptive field, so the caches and outputs
        that can still influence a prediction are the same as when the window was saved."""
        if not steps:
            raise ValueError("replay needs at least the first step")
        self.steps, self.step_index = [], next_index - len(steps)
        self.caches = self.model.backbone.new_kv_cache() if self.use_cache else None
        for step in steps:
            self.observe(step.frame, step.actions)
            self.steps[-1] = step  # keep the saved step itself (its BOA flag included)

    @torch.no_grad()
    def predict_frame(self, next_actions: torch.Tensor | None = None, sample_steps: int | None = None, generator=None) -> torch.Tensor:
        """Tokens (B, K, D) of the next frame, given the chunk about to run (B, L, 7) or None."""
        h_last = self.h_last_action[:, None] if self.h_last_action is not None else None
        acts = next_actions[:, None] if next_actions is not None else None
        z = self.model.frame_condition(self.h_frame[:, None], h_last, acts, None)[:, 0]  # (B, K, d)
        z_uncond = None
        if acts is not None and self.model.config.cfg_scale != 1.0:
            z_uncond = self.model.frame_condition(self.h_frame[:, None], h_last, None, None)[:, 0]  # (B, K, d)
        return self.model.sample_frame(z, self.steps[-1].frame, sample_steps, generator, z_uncond)

    @torch.no_grad()
    def propose_actions(self, frame_tokens: torch.Tensor, lookahead=None, sample_steps: int | None = None, generator=None):
        """L-MTP block (B, lmtp, L, 7) for reaching frame_tokens (usually an imagined next frame).

        The frame is fed tentatively (not committed to the cache): actions see the frame they must
        produce (implicit IK)."""
        k = self.model.config.num_frame_tokens
        emb = self.model.embed_frames(frame_tokens[:, None])[:, 0]  # (B, K, d)
        if self.use_cache:
            layout = TokenLayout.for_steps(self.step_index, 1, k, 0, device=emb.device)
            h_frame = self.model.backbone(emb, layout, caches=self.caches, commit=False)
        else:
            window = self.steps[-(self.model.backbone.receptive_steps - 1) :] if self.model.backbone.receptive_steps > 1 else []
            first = self.step_index - len(window)
            x, layout = self._window_tokens(window, first)
            layout = layout.cat(TokenLayout.for_steps(self.step_index, 1, k, 0, device=emb.device))
            h_frame = self.model.backbone(torch.cat([x, emb], dim=1) if x is not None else emb, layout, commit=False)[:, -k:]
        return self.model.sample_actions(h_frame, lookahead, sample_steps, generator)

    # ----------------------------------------------------------------- internals
    def _window_tokens(self, steps: list[_Step], first_step: int):
        if not steps:
            return None, TokenLayout(*(torch.zeros(0, dtype=torch.long),) * 3)
        cfg = self.model.config
        frames = torch.stack([s.frame for s in steps], dim=1)  # (B, S, K, D)
        frame_emb = self.model.embed_frames(frames)
        if not self.with_actions:
            layout = TokenLayout.for_steps(first_step, len(steps), cfg.num_frame_tokens, 0, device=frames.device)
            return self.model.sequence(frame_emb, None), layout
        b = frames.shape[0]
        zeros = torch.zeros(b, cfg.chunk, cfg.action_dim, device=frames.device)
        actions = torch.stack([s.actions if s.actions is not None else zeros for s in steps], dim=1)  # (B, S, L, 7)
        boa = torch.tensor([s.boa for s in steps], device=frames.device)[None].expand(b, -1)
        action_emb = self.model.embed_actions(actions, boa)
        layout = TokenLayout.for_steps(first_step, len(steps), cfg.num_frame_tokens, cfg.chunk, device=frames.device)
        return self.model.sequence(frame_emb, action_emb), layout

    def _run(self, steps: list[_Step], first_step: int, commit: bool) -> torch.Tensor:
        x, layout = self._window_tokens(steps, first_step)
        return self.model.backbone(x, layout, caches=self.caches, commit=commit)

    def _keep_outputs(self, out: torch.Tensor) -> None:
        cfg = self.model.config
        k = cfg.num_frame_tokens
        per = k + (cfg.chunk if self.with_actions else 0)
        last = out[:, -per:]
        self.h_frame = last[:, :k]
        self.h_last_action = last[:, -1] if self.with_actions else None
