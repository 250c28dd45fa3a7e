"""PhysGen: physical tokens through a causal transformer, with per-token diffusion heads.

Indexing (our reading of the paper, documented and tested): step n holds P_n = [O_n; A_n], where
A_n is the action chunk that led from O_(n-1) to O_n; P_0 = [O_0; BOA].

Predictions, all teacher-forced in one pass during training:
- next frame O_(n+1), token by token, from z = W_o h(O_n,k) + W_a h(A_n, last) + e(A_(n+1)).
  The last term conditions the frame on the chunk that will be executed (the world-model use);
  it is dropped (a learned null) with probability `action_cond_dropout`, so the same model also
  imagines the next frame without being told the action (the policy use). Stage 1 (video) has no
  action tokens and uses only the first term.
- action chunks A_(n+1) .. A_(n+lmtp) (L-MTP), from the Action-DiT cross-attending to the outputs
  of step n+1's frame tokens (they see O_(n+1): implicit IK) plus the previous step's lookahead
  (a noisy copy of the same chunks in training, the previous prediction in rollouts; dropped with
  probability 0.5 so the first step of a rollout, which has none, is in distribution).
Losses: epsilon (or velocity, for "flow") MSE, with `t_samples` timesteps per token.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn import functional as F

from physgen.errors import InputError
from physgen.heads import ActionDiT, Diffusion, FrameHead
from physgen.transformer import PhysicalTransformer, TokenLayout

SCHEDULERS = ("ddpm", "ddim", "flow")
ACTION_TOKENS = ("continuous", "discrete")


class PhysGen(ModelMixin, ConfigMixin):
    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        token_dim: int = 64,  # D: latent channels x patch^2
        num_frame_tokens: int = 16,  # K_O per frame
        action_dim: int = 7,  # pd_ee_delta_pose
        chunk: int = 8,  # L: actions per chunk = action tokens per step
        history: int = 5,  # steps each step attends to, its own included (sliding window, KV cache size)
        dim: int = 256,
        depth: int = 6,
        heads: int = 4,
        mlp_ratio: int = 4,
        theta_frame: float = 10_000.0,
        theta_action: float = 1_000.0,
        frame_head_width: int = 256,
        frame_head_depth: int = 3,
        action_head_width: int = 128,
        action_head_depth: int = 2,
        lmtp: int = 3,  # chunks predicted per step (1 = L-MTP off)
        action_tokens: str = "continuous",  # "discrete": the ablation with binned actions and a classifier
        action_bins: int = 256,  # bins per action dimension for action_tokens="discrete"
        scheduler: str = "ddim",
        train_timesteps: int = 1000,
        sample_steps: int = 10,
        t_samples: int = 4,  # diffusion timesteps sampled per token in training (MAR)
        action_cond_dropout: float = 0.2,
        lookahead_dropout: float = 0.5,
    ):
        super().__init__()
        if action_tokens not in ACTION_TOKENS:
            raise InputError(f"action_tokens must be one of {ACTION_TOKENS}; got {action_tokens!r}")
        if action_bins < 2:
            raise InputError(f"action_bins must be >= 2; got {action_bins}")
        if scheduler not in SCHEDULERS:
            raise InputError(f"scheduler must be one of {SCHEDULERS}; got {scheduler!r}")
        for name, value in dict(chunk=chunk, history=history, lmtp=lmtp, depth=depth, t_samples=t_samples).items():
            if value < 1:
                raise InputError(f"{name} must be >= 1; got {value}")
        if dim % heads or (dim // heads) % 2:
            raise InputError(f"dim ({dim}) must be divisible by heads ({heads}) into an even head size (RoPE)")
        self.frame_in = nn.Linear(token_dim, dim)
        self.frame_pos = nn.Parameter(torch.randn(num_frame_tokens, dim) * 0.02)
        self.action_in = nn.Sequential(nn.Linear(action_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.action_pos = nn.Parameter(torch.randn(chunk, dim) * 0.02)
        self.boa = nn.Parameter(torch.randn(chunk, dim) * 0.02)  # begin-of-action chunk
        self.backbone = PhysicalTransformer(dim, depth, heads, mlp_ratio, num_frame_tokens, chunk, history, theta_frame, theta_action)
        self.cond_frame = nn.Linear(dim, dim)
        self.cond_last_action = nn.Linear(dim, dim)
        self.cond_next_action = nn.Sequential(nn.Linear(chunk * action_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.null_next_action = nn.Parameter(torch.zeros(dim))
        # Stage 2 starts from the stage-1 function: action terms begin at zero.
        for layer in (self.cond_last_action, self.cond_next_action[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.frame_head = FrameHead(token_dim, dim, frame_head_width, frame_head_depth)
        self.lookahead_in = nn.Linear(action_dim, dim)
        self.lookahead_pos = nn.Parameter(torch.randn((lmtp - 1) * chunk + 1, dim) * 0.02)
        discrete_out = action_dim * action_bins if action_tokens == "discrete" else None
        self.action_head = ActionDiT(action_dim, lmtp * chunk, dim, action_head_width, action_head_depth, out_dim=discrete_out)
        self.diffusion = Diffusion(scheduler, train_timesteps)

    # ----------------------------------------------------------------- embedding
    def embed_frames(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, S, K, D) -> (B, S, K, d)."""
        return self.frame_in(tokens) + self.frame_pos

    def embed_actions(self, actions: torch.Tensor, boa: torch.Tensor | None = None) -> torch.Tensor:
        """(B, S, L, 7) -> (B, S, L, d); rows where boa (B, S) is True become the BOA chunk."""
        emb = self.action_in(actions) + self.action_pos
        if boa is not None:
            emb = torch.where(boa[..., None, None], self.boa.expand_as(emb), emb)
        return emb

    def sequence(self, frame_emb: torch.Tensor, action_emb: torch.Tensor | None) -> torch.Tensor:
        """Interleave per-step groups: (B, S, K, d) [+ (B, S, L, d)] -> (B, S*(K+L), d)."""
        x = frame_emb if action_emb is None else torch.cat([frame_emb, action_emb], dim=2)
        return x.flatten(1, 2)

    def frame_condition(self, h_frame, h_last_action, next_actions, use_next: torch.Tensor | None):
        """z for the next frame's tokens: (B, S, K, d) (+ (B, S, d), (B, S, L, 7), (B, S) bool)."""
        z = self.cond_frame(h_frame)
        if h_last_action is not None:
            z = z + self.cond_last_action(h_last_action)[:, :, None]
            if next_actions is None:
                act = self.null_next_action.expand(*h_frame.shape[:2], -1)
            else:
                act = self.cond_next_action(next_actions.flatten(-2))  # (B, S, d)
                if use_next is not None:
                    act = torch.where(use_next[..., None], act, self.null_next_action)
            z = z + act[:, :, None]
        return z  # (B, S, K, d)

    def action_context(self, h_frame: torch.Tensor, lookahead: torch.Tensor | None) -> torch.Tensor:
        """Context for the Action-DiT: frame outputs (B, K, d) + previous lookahead actions."""
        n_look = (self.config.lmtp - 1) * self.config.chunk
        b = h_frame.shape[0]
        if lookahead is None or n_look == 0:
            look = self.lookahead_pos[-1:].expand(b, 1, -1)  # "no lookahead" token
        else:
            look = self.lookahead_in(lookahead) + self.lookahead_pos[:n_look]  # (B, n_look, d)
        return torch.cat([h_frame, look], dim=1)

    # ----------------------------------------------------------------- training
    def forward(self, frame_tokens, frame_valid, actions=None, action_valid=None, boa=None) -> dict:
        """The training losses (forward, so that accelerate/DDP wrappers can call the model)."""
        return self.loss(frame_tokens, frame_valid, actions, action_valid, boa)

    def loss(self, frame_tokens, frame_valid, actions=None, action_valid=None, boa=None) -> dict:
        """Teacher-forced losses for one window of H steps (H may exceed `history`: the band applies).

        frame_tokens (B, H, K, D); frame_valid (B, H); actions (B, H + lmtp, L, 7) with actions[:, n]
        leading into frame n (None for stage-1 video); action_valid (B, H + lmtp); boa (B,).
        """
        cfg = self.config
        b, h = frame_tokens.shape[:2]
        k = cfg.num_frame_tokens
        frame_emb = self.embed_frames(frame_tokens)
        if actions is None:
            x = self.sequence(frame_emb, None)
            layout = TokenLayout.for_steps(0, h, k, 0, device=x.device)
            out = self.backbone(x, layout).view(b, h, k, -1)
            z = self.frame_condition(out[:, :-1], None, None, None)
            h_frame = out
        else:
            boa_steps = torch.zeros(b, h, dtype=torch.bool, device=frame_tokens.device)
            boa_steps[:, 0] = boa if boa is not None else ~action_valid[:, 0]
            action_emb = self.embed_actions(actions[:, :h], boa_steps)
            x = self.sequence(frame_emb, action_emb)
            layout = TokenLayout.for_steps(0, h, k, cfg.chunk, device=x.device)
            out = self.backbone(x, layout).view(b, h, k + cfg.chunk, -1)
            h_frame, h_action = out[:, :, :k], out[:, :, k:]
            use_next = torch.rand(b, h - 1, device=x.device) >= cfg.action_cond_dropout
            use_next &= action_valid[:, 1:h]
            z = self.frame_condition(h_frame[:, :-1], h_action[:, :-1, -1], actions[:, 1:h], use_next)
        losses = {"frame": self._frame_loss(z, frame_tokens[:, 1:], frame_valid[:, 1:])}
        if actions is not None:
            losses["action"] = self._action_loss(h_frame, actions, action_valid)
        losses["total"] = sum(losses.values())
        return losses

    def _frame_loss(self, z, target, valid):
        """z (B, S, K, d), target (B, S, K, D), valid (B, S)."""
        ts = self.config.t_samples
        z = z[valid].flatten(0, 1).repeat(ts, 1)  # (M*ts, d)
        x0 = target[valid].flatten(0, 1).repeat(ts, 1)  # (M*ts, D)
        if x0.numel() == 0:
            return target.sum() * 0
        x_t, t, goal = self.diffusion.training_pair(x0)
        return (self.frame_head(x_t, t, z) - goal).pow(2).mean()

    def _action_loss(self, h_frame, actions, action_valid):
        """Predict chunks n+1 .. n+lmtp from frame outputs of step n+1, for n+1 = 1 .. H-1."""
        cfg = self.config
        b, h = h_frame.shape[:2]
        lm, length = cfg.lmtp, cfg.chunk
        steps = torch.arange(1, h, device=h_frame.device)
        idx = steps[:, None] + torch.arange(lm, device=h_frame.device)[None]  # (S, lmtp)
        target = actions[:, idx]  # (B, S, lmtp, L, 7)
        valid = action_valid[:, idx].all(-1)  # (B, S): the whole L-MTP block is real
        if not valid.any():
            return h_frame.sum() * 0
        target = target[valid].flatten(1, 2)  # (M, lmtp*L, 7)
        context = h_frame[:, 1:][valid]  # (M, K, d)
        lookahead = None
        if lm > 1:
            look = target[:, : (lm - 1) * length]  # previous step's plan for these chunks
            look = look + 0.1 * torch.randn_like(look)
            keep = (torch.rand(look.shape[0], 1, 1, device=look.device) >= cfg.lookahead_dropout).float()
            lookahead = look * keep
        ctx = self.action_context(context, lookahead)
        if cfg.action_tokens == "discrete":
            logits = self._action_logits(ctx)  # (M, T, 7, bins)
            return F.cross_entropy(logits.flatten(0, 2), self._to_bins(target).flatten())
        ts = cfg.t_samples
        x_t, t, goal = self.diffusion.training_pair(target.repeat(ts, 1, 1))
        return (self.action_head(x_t, t, ctx.repeat(ts, 1, 1)) - goal).pow(2).mean()

    # ----------------------------------------------------------------- sampling
    def sample_frame(self, z: torch.Tensor, steps: int | None = None, generator=None) -> torch.Tensor:
        """Next frame tokens (B, K, D) from conditions z (B, K, d); all tokens in one head call."""
        b, k, _ = z.shape
        flat = z.reshape(b * k, -1)
        tokens = self.diffusion.sample(
            lambda x, t: self.frame_head(x, t, flat), (b * k, self.config.token_dim), steps or self.config.sample_steps, generator, z.device
        )
        return tokens.view(b, k, -1)

    def sample_actions(self, h_frame: torch.Tensor, lookahead=None, steps: int | None = None, generator=None) -> torch.Tensor:
        """An L-MTP block (B, lmtp, L, 7) from frame outputs (B, K, d) and the previous lookahead."""
        cfg = self.config
        ctx = self.action_context(h_frame, lookahead)
        if cfg.action_tokens == "discrete":
            block = self._from_bins(self._action_logits(ctx).argmax(-1))  # (B, T, 7)
            return block.view(-1, cfg.lmtp, cfg.chunk, cfg.action_dim)
        shape = (h_frame.shape[0], cfg.lmtp * cfg.chunk, cfg.action_dim)
        block = self.diffusion.sample(lambda x, t: self.action_head(x, t, ctx), shape, steps or cfg.sample_steps, generator, h_frame.device)
        return block.clamp(-1, 1).view(-1, cfg.lmtp, cfg.chunk, cfg.action_dim)

    # ----------------------------------------------------------------- discrete-action ablation
    def _action_logits(self, ctx: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        m, t = ctx.shape[0], cfg.lmtp * cfg.chunk
        queries = torch.zeros(m, t, cfg.action_dim, device=ctx.device)
        logits = self.action_head(queries, torch.zeros(m, device=ctx.device), ctx)  # (M, T, 7 * bins)
        return logits.view(m, t, cfg.action_dim, cfg.action_bins)

    def _to_bins(self, actions: torch.Tensor) -> torch.Tensor:
        bins = self.config.action_bins
        return ((actions.clamp(-1, 1) + 1) / 2 * (bins - 1)).round().long()

    def _from_bins(self, index: torch.Tensor) -> torch.Tensor:
        return index.float() / (self.config.action_bins - 1) * 2 - 1
