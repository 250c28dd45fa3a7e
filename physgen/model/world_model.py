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

Choices beyond the paper (each selectable, the paper's value in brackets; measured in the model card):
- scheduler "flow" (velocity) [paper: "ddpm"/"ddim", epsilon]: published and our own runs put
  epsilon behind.
- frame_target "residual" [paper and class default: "absolute", which old configs mean]: the head generates the change from the previous
  frame's tokens, scaled by residual_scale. Most of the scene is static, so a token that should not
  change starts exactly where it was instead of being re-sampled from noise.
- context_noise > 0 [paper: 0]: in training, the context frames are noised with a random level per
  step (the level is an input), so that a rollout fed its own imperfect frames stays in
  distribution (GameNGen, DIAMOND). Rollouts tell the model `context_noise_infer`.
- cfg_scale > 1 [paper: 1]: classifier-free guidance on the next action chunk, using the null
  condition the model already learns through action_cond_dropout.
- frame_head_type "joint" [paper and class default: "token"]: the frame's tokens are denoised together by
  a small transformer (each still conditioned on its own z) instead of independently by a per-token
  MLP. Independent sampling of 64 tokens let neighbouring tokens pick different modes (an arm in
  fragments); the joint head keeps one arm, at the same PSNR (model card).
- frame_rounds > 1 [paper's backbone NOVA / MAR: several rounds; default 1]: the joint head samples
  the frame in rounds, each given the tokens chosen before it (inpainting, no retraining).
"""

from __future__ import annotations

import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn import functional as F

from physgen.actions.space import ACTION_DIM, DEFAULT_CHUNK_LEN
from physgen.errors import InputError
from physgen.model.heads import ActionDiT, Diffusion, FrameHead, JointFrameHead
from physgen.model.transformer import PhysicalTransformer, TokenLayout

SCHEDULERS = ("ddpm", "ddim", "flow")
ACTION_TOKENS = ("continuous", "discrete")
FRAME_TARGETS = ("absolute", "residual")
FRAME_HEADS = ("token", "joint")


class PhysGen(ModelMixin, ConfigMixin):
    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        token_dim: int = 32,  # D: latent channels x patch^2 (the tokenizer's token_dim)
        num_frame_tokens: int = 64,  # K_O per frame (the tokenizer's num_tokens)
        action_dim: int = ACTION_DIM,  # pd_ee_delta_pose
        chunk: int = DEFAULT_CHUNK_LEN,  # L: actions per chunk = action tokens per step
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
        # Per-dimension scale of the actions the Action-DiT diffuses (the demonstrations' std): the
        # head works on actions / scale. Expert deltas span about a tenth of the [-1, 1] range, so
        # in raw units they are buried under the unit diffusion noise (session 7: from the real next
        # frame v1.1's chunk was no closer to the executed one than a zero chunk). None: raw actions
        # (v1.1 and earlier); `physgen.data.packs.action_scale` measures it on a pack.
        action_scale: list | None = None,
        scheduler: str = "flow",
        train_timesteps: int = 1000,
        sample_steps: int = 10,
        t_samples: int = 4,  # diffusion timesteps sampled per token in training (MAR)
        action_cond_dropout: float = 0.2,
        # The same for play windows (imitate=False). The action-free prediction is the policy's
        # imagination, and a play chunk is random: dropping its action teaches "anything may happen
        # next" in the scenes where the policy should imagine the expert. 0 learns that imagination
        # from demonstrations alone. The default is v1.1's rule (play dropped as often as demos)
        # until a run measures 0 against it (scripts/gpu_train_v1.py --experiment policy).
        action_cond_dropout_play: float = 0.2,
        lookahead_dropout: float = 0.5,
        frame_target: str = "absolute",  # configs saved before this option meant "absolute"
        residual_scale: float = 1.0,  # residual targets are multiplied by this (about 1 / their std)
        context_noise: float = 0.0,  # max noise std on context frame tokens in training (0 = off)
        context_noise_infer: float = 0.0,  # the level rollouts report for their context frames
        cfg_scale: float = 1.0,  # classifier-free guidance on the next action chunk (1 = off)
        # Guidance applies only at sampling times t / train_timesteps within this interval (both
        # ends included); outside it the head runs once, conditionally (Kynkaanniemi et al. 2024,
        # "guidance in a limited interval"). Each unguided step saves a head pass.
        cfg_interval: tuple = (0.0, 1.0),
        # The frame sampler starts from noise of this std instead of 1 (MAR's temperature tau): below 1
        # the sample moves toward the likeliest next frame and away from rare ones.
        frame_temperature: float = 1.0,
        # The same for the Action-DiT's samples (the policy's chunks). 1 = the trained prior; 0 = one
        # deterministic flow from zero noise, the likeliest chunk given the imagined frame.
        action_temperature: float = 1.0,
        frame_head_type: str = "token",  # "joint": a frame's tokens denoised together (configs saved before meant "token")
        # Rounds of frame sampling, MAR-style: each round samples the tokens still open, given the ones
        # chosen before (inpainted into the joint head's input), and keeps a share of them. 1 = all
        # tokens in one round, as trained.
        frame_rounds: int = 1,
    ):
        super().__init__()
        if frame_head_type not in FRAME_HEADS:
            raise InputError(f"frame_head_type must be one of {FRAME_HEADS}; got {frame_head_type!r}")
        if frame_rounds < 1 or frame_rounds > num_frame_tokens:
            raise InputError(f"frame_rounds must be in [1, num_frame_tokens = {num_frame_tokens}]; got {frame_rounds}")
        if frame_rounds > 1 and frame_head_type != "joint":
            raise InputError("frame_rounds > 1 needs frame_head_type 'joint': a per-token head samples each token alone, "
                             "so tokens chosen earlier cannot inform the others")
        if frame_target not in FRAME_TARGETS:
            raise InputError(f"frame_target must be one of {FRAME_TARGETS}; got {frame_target!r}")
        if residual_scale <= 0:
            raise InputError(f"residual_scale must be > 0; got {residual_scale}")
        if context_noise < 0 or context_noise_infer < 0:
            raise InputError(f"context noise levels must be >= 0; got {context_noise}, {context_noise_infer}")
        if context_noise_infer > 0 and context_noise == 0:
            raise InputError("context_noise_infer > 0 needs a model trained with context_noise > 0")
        for name, value in dict(action_cond_dropout=action_cond_dropout, action_cond_dropout_play=action_cond_dropout_play).items():
            if not 0 <= value <= 1:
                raise InputError(f"{name} must be in [0, 1]; got {value}")
        if cfg_scale < 0:
            raise InputError(f"cfg_scale must be >= 0; got {cfg_scale}")
        if len(cfg_interval) != 2 or not 0 <= cfg_interval[0] <= cfg_interval[1] <= 1:
            raise InputError(f"cfg_interval must be [lo, hi] with 0 <= lo <= hi <= 1; got {cfg_interval}")
        for name, value in dict(frame_temperature=frame_temperature, action_temperature=action_temperature).items():
            if not 0 <= value <= 2:
                raise InputError(f"{name} must be in [0, 2]; got {value}")
        if action_tokens not in ACTION_TOKENS:
            raise InputError(f"action_tokens must be one of {ACTION_TOKENS}; got {action_tokens!r}")
        if action_scale is not None and (len(action_scale) != action_dim or min(action_scale) <= 0):
            raise InputError(f"action_scale must be {action_dim} positive numbers; got {action_scale}")
        if action_bins < 2:
            raise InputError(f"action_bins must be >= 2; got {action_bins}")
        if scheduler not in SCHEDULERS:
            raise InputError(f"scheduler must be one of {SCHEDULERS}; got {scheduler!r}")
        for name, value in dict(chunk=chunk, history=history, lmtp=lmtp, depth=depth, t_samples=t_samples, sample_steps=sample_steps).items():
            if value < 1:
                raise InputError(f"{name} must be >= 1; got {value}")
        if dim % heads or (dim // heads) % 2:
            raise InputError(f"dim ({dim}) must be divisible by heads ({heads}) into an even head size (RoPE)")
        self.frame_in = nn.Linear(token_dim, dim)
        self.frame_pos = nn.Parameter(torch.randn(num_frame_tokens, dim) * 0.02)
        # The context-noise level as an input; absent (and old checkpoints load) when it is off.
        self.noise_level_in = nn.Linear(1, dim) if context_noise > 0 else None
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
        if frame_head_type == "joint":
            self.frame_head = JointFrameHead(token_dim, dim, frame_head_width, frame_head_depth, heads)
        else:
            self.frame_head = FrameHead(token_dim, dim, frame_head_width, frame_head_depth)
        self.lookahead_in = nn.Linear(action_dim, dim)
        self.lookahead_pos = nn.Parameter(torch.randn((lmtp - 1) * chunk + 1, dim) * 0.02)
        discrete_out = action_dim * action_bins if action_tokens == "discrete" else None
        self.action_head = ActionDiT(action_dim, lmtp * chunk, dim, action_head_width, action_head_depth, out_dim=discrete_out)
        self.diffusion = Diffusion(scheduler, train_timesteps)

    # ----------------------------------------------------------------- embedding
    def embed_frames(self, tokens: torch.Tensor, noise_level: torch.Tensor | None = None) -> torch.Tensor:
        """(B, S, K, D) -> (B, S, K, d); noise_level (B, S), default the rollout level."""
        emb = self.frame_in(tokens) + self.frame_pos
        if self.noise_level_in is not None:
            if noise_level is None:
                noise_level = tokens.new_full(tokens.shape[:2], self.config.context_noise_infer)
            emb = emb + self.noise_level_in(noise_level[..., None])[:, :, None]  # (B, S, 1, d)
        return emb

    def noisy_context(self, frame_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Training-time context noise: (noised tokens (B, H, K, D), levels (B, H)), or as is."""
        if not (self.training and self.config.context_noise > 0):
            return frame_tokens, None
        level = torch.rand(frame_tokens.shape[:2], device=frame_tokens.device) * self.config.context_noise  # (B, H)
        return frame_tokens + level[..., None, None] * torch.randn_like(frame_tokens), level

    def frame_target_of(self, previous: torch.Tensor, following: torch.Tensor) -> torch.Tensor:
        """What the frame head generates for `following` given `previous` tokens (same shapes)."""
        if self.config.frame_target == "residual":
            return (following - previous) * self.config.residual_scale
        return following

    def frame_from_target(self, previous: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        """Inverse of frame_target_of: frame tokens from the head's output."""
        if self.config.frame_target == "residual":
            return previous + generated / self.config.residual_scale
        return generated

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
    def forward(self, frame_tokens, frame_valid, actions=None, action_valid=None, boa=None, imitate=None, context=None) -> dict:
        """The training losses (forward, so that accelerate/DDP wrappers can call the model)."""
        return self.loss(frame_tokens, frame_valid, actions, action_valid, boa, imitate, context)

    def loss(self, frame_tokens, frame_valid, actions=None, action_valid=None, boa=None, imitate=None, context=None) -> dict:
        """Teacher-forced losses for one window of H steps (H may exceed `history`: the band applies).

        frame_tokens (B, H, K, D); frame_valid (B, H); actions (B, H + lmtp, L, 7) with actions[:, n]
        leading into frame n (None for stage-1 video); action_valid (B, H + lmtp); boa (B,); imitate
        (B,) bool: False for play windows, whose actions condition the frames but are no demonstration
        for the policy head (default: all True). context (B, H, K, D): the frames fed to the model,
        default frame_tokens; self-forced windows feed the model's own open-loop predictions
        (physgen.model.self_forcing). The targets stay the real frames, and a residual target is
        taken from the frame fed, so the head learns to steer a drifted rollout back.
        """
        b, h = frame_tokens.shape[:2]
        fed = frame_tokens if context is None else context
        noised, level = self.noisy_context(fed)
        boa_steps = None if actions is None else self.boa_steps(b, h, boa, action_valid)
        h_frame, h_action = self.window_outputs(noised, level, actions, boa_steps)
        h_last_action = None if h_action is None else h_action[:, :, -1]  # (B, H, d)
        losses = {"frame": self.frame_loss(h_frame, h_last_action, fed, frame_tokens, frame_valid, actions, action_valid, imitate)}
        if actions is not None:
            demo_valid = action_valid if imitate is None else action_valid & imitate[:, None]
            losses["action"] = self.action_loss(h_frame, actions, demo_valid)
        losses["total"] = sum(losses.values())
        return losses

    @staticmethod
    def boa_steps(b: int, h: int, boa, action_valid) -> torch.Tensor:
        """(B, H) bool: the action slots that hold the BOA chunk (a window's first step, at an
        episode's start)."""
        steps = torch.zeros(b, h, dtype=torch.bool, device=action_valid.device)
        steps[:, 0] = boa if boa is not None else ~action_valid[:, 0]
        return steps

    def window_outputs(self, frame_tokens, level, actions=None, boa_steps=None):
        """Backbone outputs of a window of S whole steps from step 0: frame outputs (B, S, K, d) and
        action outputs (B, S, L, d), or None for frames only. frame_tokens (B, S, K, D), level (B, S)
        or None (the rollout level), actions (B, >= S, L, 7), boa_steps (B, S)."""
        b, s, k = *frame_tokens.shape[:2], self.config.num_frame_tokens
        frame_emb = self.embed_frames(frame_tokens, level)
        if actions is None:
            layout = TokenLayout.for_steps(0, s, k, 0, device=frame_emb.device)
            return self.backbone(self.sequence(frame_emb, None), layout).view(b, s, k, -1), None
        x = self.sequence(frame_emb, self.embed_actions(actions[:, :s], boa_steps))
        layout = TokenLayout.for_steps(0, s, k, self.config.chunk, device=x.device)
        out = self.backbone(x, layout).view(b, s, k + self.config.chunk, -1)
        return out[:, :, :k], out[:, :, k:]

    def frame_loss(self, h_frame, h_last_action, fed, frame_tokens, frame_valid, actions=None, action_valid=None, imitate=None):
        """The frame head's loss from the backbone's outputs of a window: frame outputs h_frame
        (B, H, K, d) and last-action outputs h_last_action (B, H, d) (None for frames only); fed
        (B, H, K, D) the frames the backbone read, frame_tokens the real ones; the rest as in loss."""
        cfg = self.config
        b, h = fed.shape[:2]
        if actions is None:
            z = self.frame_condition(h_frame[:, :-1], None, None, None)
        else:
            dropout = torch.full((b, 1), cfg.action_cond_dropout, device=fed.device)
            if imitate is not None:
                dropout[~imitate.to(fed.device)] = cfg.action_cond_dropout_play
            use_next = torch.rand(b, h - 1, device=fed.device) >= dropout  # (B, H-1)
            use_next &= action_valid[:, 1:h]
            z = self.frame_condition(h_frame[:, :-1], h_last_action[:, :-1], actions[:, 1:h], use_next)
        target = self.frame_target_of(fed[:, :-1], frame_tokens[:, 1:])  # (B, H-1, K, D), toward the real frames
        return self._frame_loss(z, target, frame_valid[:, 1:])

    def _frame_loss(self, z, target, valid):
        """z (B, S, K, d), target (B, S, K, D), valid (B, S). A joint head denoises whole frames
        (one noise level per frame), a per-token head single tokens."""
        ts = self.config.t_samples
        if self.config.frame_head_type == "joint":
            z, x0 = z[valid].repeat(ts, 1, 1), target[valid].repeat(ts, 1, 1)  # (M*ts, K, d), (M*ts, K, D)
        else:
            z = z[valid].flatten(0, 1).repeat(ts, 1)  # (M*K*ts, d)
            x0 = target[valid].flatten(0, 1).repeat(ts, 1)  # (M*K*ts, D)
        if x0.numel() == 0:
            return target.sum() * 0
        x_t, t, goal = self.diffusion.training_pair(x0)
        return (self.frame_head(x_t, t, z) - goal).pow(2).mean()

    def action_loss(self, h_frame, actions, action_valid):
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
        x_t, t, goal = self.diffusion.training_pair((target / self._action_scale(target)).repeat(ts, 1, 1))
        return (self.action_head(x_t, t, ctx.repeat(ts, 1, 1)) - goal).pow(2).mean()

    # ----------------------------------------------------------------- sampling
    def sample_frame(self, z: torch.Tensor, previous: torch.Tensor, steps: int | None = None, generator=None,
                     z_uncond: torch.Tensor | None = None) -> torch.Tensor:
        """Next frame tokens (B, K, D) from conditions z (B, K, d) and the previous frame's tokens
        (B, K, D): all tokens in one sampling loop, or one loop per round with frame_rounds > 1. With
        z_uncond (no action condition) and cfg_scale != 1, the head's output is guided away from the
        unconditional one."""
        b, k, _ = z.shape
        joint = self.config.frame_head_type == "joint"
        # A per-token head sees B*K independent rows; a joint head B frames of K tokens.
        rows = z if joint else z.reshape(b * k, -1)  # (B, K, d) or (B*K, d)
        shape = (b, k, self.config.token_dim) if joint else (b * k, self.config.token_dim)
        scale = self.config.cfg_scale
        if z_uncond is not None and scale != 1.0:
            both = torch.cat([rows, z_uncond.reshape(rows.shape)])  # (2B, ...) conditional first
            lo, hi = (bound * self.config.train_timesteps for bound in self.config.cfg_interval)

            def denoise(x, t):
                if not lo <= float(t[0]) <= hi:
                    return self.frame_head(x, t, rows)
                cond, uncond = self.frame_head(torch.cat([x, x]), t.repeat(2), both).chunk(2)
                return uncond + scale * (cond - uncond)
        else:
            def denoise(x, t):
                return self.frame_head(x, t, rows)
        steps = steps or self.config.sample_steps
        generated, known = None, None
        for chosen in self.round_masks(b, k, generator, z.device):  # (B, K, 1) each
            # The sample keeps the known tokens as given; the open ones it samples count from the round that chooses them.
            generated = self.diffusion.sample(denoise, shape, steps, generator, z.device, temperature=self.config.frame_temperature,
                                              known=generated, known_mask=known)
            known = chosen if known is None else known | chosen
        return self.frame_from_target(previous, generated.view(b, k, -1))

    def round_masks(self, b: int, k: int, generator=None, device=None) -> list[torch.Tensor]:
        """The tokens each sampling round chooses, (B, K, 1) booleans that partition the frame: MAR's
        random order per frame and cosine schedule (few tokens first, most at the end). One round
        chooses all tokens at once, and draws no random numbers."""
        rounds = self.config.frame_rounds
        if rounds == 1:
            return [torch.ones(b, k, 1, dtype=torch.bool, device=device)]
        order = torch.rand(b, k, generator=generator, device=device).argsort(dim=1)  # (B, K) token indices, first chosen first
        rank = order.argsort(dim=1)  # (B, K) each token's place in the order
        ends = []  # tokens chosen by the end of each round
        for r in range(rounds):
            chosen = k - int(k * math.cos(math.pi / 2 * (r + 1) / rounds))  # MAR: K cos(...) still open
            chosen = max(chosen, (ends[-1] if ends else 0) + 1)  # at least one token per round
            ends.append(min(chosen, k - (rounds - 1 - r)))  # and one left for each later round
        starts = [0] + ends[:-1]
        return [((rank >= lo) & (rank < hi))[..., None] for lo, hi in zip(starts, ends)]

    def sample_actions(self, h_frame: torch.Tensor, lookahead=None, steps: int | None = None, generator=None) -> torch.Tensor:
        """An L-MTP block (B, lmtp, L, 7) from frame outputs (B, K, d) and the previous lookahead."""
        cfg = self.config
        ctx = self.action_context(h_frame, lookahead)
        if cfg.action_tokens == "discrete":
            block = self._from_bins(self._action_logits(ctx).argmax(-1))  # (B, T, 7)
            return block.view(-1, cfg.lmtp, cfg.chunk, cfg.action_dim)
        shape = (h_frame.shape[0], cfg.lmtp * cfg.chunk, cfg.action_dim)
        block = self.diffusion.sample(lambda x, t: self.action_head(x, t, ctx), shape, steps or cfg.sample_steps, generator, h_frame.device,
                                      temperature=cfg.action_temperature)
        return (block * self._action_scale(block)).clamp(-1, 1).view(-1, cfg.lmtp, cfg.chunk, cfg.action_dim)

    def _action_scale(self, like: torch.Tensor) -> torch.Tensor | float:
        scale = self.config.action_scale
        return 1.0 if scale is None else torch.tensor(scale, dtype=like.dtype, device=like.device)  # (7,)

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
