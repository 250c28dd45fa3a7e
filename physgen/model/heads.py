"""Per-token diffusion heads (MAR-style, no vector quantisation) and the diffusion schedule.

- FrameHead: an AdaLN residual MLP that denoises each frame token given its condition vector z
  (the paper's per-token head: the tokens of a frame are sampled independently of each other).
- JointFrameHead: AdaLN transformer blocks that denoise all tokens of a frame together, each still
  conditioned on its own z, so that tokens agree with each other (one arm, not fragments of several
  sampled ones).
- ActionDiT: a small DiT that denoises an L-MTP block of action tokens (lmtp chunks x L actions)
  while cross-attending to the backbone outputs Z of the frame it must produce.
- Diffusion: training noise and sampling through a diffusers scheduler ("ddpm", "ddim": epsilon
  prediction; "flow": FlowMatchEuler with velocity prediction), with the number of sampling steps
  set separately for interactive use.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (B,) timesteps in [0, 1000) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.cos(), args.sin()], dim=-1)


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


class AdaLNResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 3 * width))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, x, c):
        shift, scale, gate = self.ada(c).chunk(3, dim=-1)
        return x + gate * self.mlp(modulate(self.norm(x), shift, scale))


class FrameHead(nn.Module):
    """Denoiser for one continuous token: (x_t (M, D), t (M,), z (M, d)) -> prediction (M, D)."""

    def __init__(self, token_dim: int, cond_dim: int, width: int, depth: int):
        super().__init__()
        self.inp = nn.Linear(token_dim, width)
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.cond = nn.Linear(cond_dim, width)
        self.blocks = nn.ModuleList(AdaLNResBlock(width) for _ in range(depth))
        self.out_norm = nn.LayerNorm(width, elementwise_affine=False)
        self.out_ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, token_dim)
        self.width = width

    def forward(self, x_t, t, z):
        c = self.time(timestep_embedding(t, self.width)) + self.cond(z)  # (M, W)
        h = self.inp(x_t)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.out_ada(c).chunk(2, dim=-1)
        return self.out(modulate(self.out_norm(h), shift, scale))


class JointBlock(nn.Module):
    """Self-attention over a frame's tokens and an MLP, both modulated per token by c."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        # A narrow MLP: this runs sample_steps times per predicted frame on the CPU.
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, x, c):
        s1, sc1, g1, s2, sc2, g2 = self.ada(c).chunk(6, dim=-1)  # each (M, K, W)
        h = modulate(self.norm1(x), s1, sc1)
        x = x + g1 * self.attn(h, h, h, need_weights=False)[0]
        return x + g2 * self.mlp(modulate(self.norm2(x), s2, sc2))


class JointFrameHead(nn.Module):
    """Denoiser for a whole frame: (x_t (M, K, D), t (M,), z (M, K, d)) -> prediction (M, K, D)."""

    def __init__(self, token_dim: int, cond_dim: int, width: int, depth: int, heads: int = 4):
        super().__init__()
        self.inp = nn.Linear(token_dim, width)
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.cond = nn.Linear(cond_dim, width)
        self.cond_in = nn.Linear(cond_dim, width)  # z also enters the stream: it carries each token's position
        self.blocks = nn.ModuleList(JointBlock(width, heads) for _ in range(depth))
        self.out_norm = nn.LayerNorm(width, elementwise_affine=False)
        self.out_ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, token_dim)
        self.width = width

    def forward(self, x_t, t, z):
        c = self.time(timestep_embedding(t, self.width))[:, None] + self.cond(z)  # (M, K, W)
        h = self.inp(x_t) + self.cond_in(z)  # (M, K, W)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.out_ada(c).chunk(2, dim=-1)
        return self.out(modulate(self.out_norm(h), shift, scale))


class DiTBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.self_attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.cross_attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm3 = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, x, c, context):
        s1, g1, s2, g2, sc1, sc2 = self.ada(c)[:, None].chunk(6, dim=-1)
        h = modulate(self.norm1(x), s1, sc1)
        x = x + g1 * self.self_attn(h, h, h, need_weights=False)[0]
        x = x + self.cross_attn(self.norm2(x), context, context, need_weights=False)[0]
        return x + g2 * self.mlp(modulate(self.norm3(x), s2, sc2))


class ActionDiT(nn.Module):
    """Denoiser for an action block: (x_t (B, T, 7), t (B,), context (B, S, d)) -> (B, T, out_dim).

    out_dim is action_dim for diffusion; the discrete-action ablation reads action_dim x bins logits
    from the same network (with x_t = 0, t = 0)."""

    def __init__(self, action_dim: int, num_tokens: int, cond_dim: int, width: int, depth: int, heads: int = 4, out_dim: int | None = None):
        super().__init__()
        self.inp = nn.Linear(action_dim, width)
        self.pos = nn.Parameter(torch.zeros(1, num_tokens, width))
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.context = nn.Linear(cond_dim, width)
        self.blocks = nn.ModuleList(DiTBlock(width, heads) for _ in range(depth))
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, out_dim or action_dim)
        self.width = width
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, x_t, t, context):
        c = self.time(timestep_embedding(t, self.width))  # (B, W)
        h = self.inp(x_t) + self.pos  # (B, T, W)
        ctx = self.context(context)  # (B, S, W)
        for block in self.blocks:
            h = block(h, c, ctx)
        return self.out(self.out_norm(h))


class Diffusion:
    """Training targets and sampling through a diffusers scheduler.

    `scheduler` is a template that is never stepped: diffusers' schedulers keep the state of a
    sampling loop (timesteps, step index) on themselves, so every `sample` call steps its own copy
    and sessions sharing one model can sample at the same time (tests/test_sampling.py). The copy
    costs about 0.5 ms, against 31 ms per predicted frame of the shipped checkpoint (one CPU thread)."""

    def __init__(self, kind: str = "ddim", train_steps: int = 1000):
        from diffusers import DDIMScheduler, DDPMScheduler, FlowMatchEulerDiscreteScheduler

        self.kind = kind
        self.train_steps = train_steps
        if kind == "flow":
            self.scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=train_steps)
        else:
            common = dict(num_train_timesteps=train_steps, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon", clip_sample=False)
            self.train_scheduler = DDPMScheduler(**common)
            self.scheduler = DDIMScheduler(**common) if kind == "ddim" else DDPMScheduler(**common)

    def training_pair(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(noisy x_t, t, target) for clean x0 (M, ...); t is sampled per row."""
        noise = torch.randn_like(x0)
        m = x0.shape[0]
        if self.kind == "flow":
            sigma = torch.rand(m, device=x0.device)
            s = sigma.view(-1, *[1] * (x0.dim() - 1))
            return (1 - s) * x0 + s * noise, sigma * self.train_steps, noise - x0
        t = torch.randint(0, self.train_steps, (m,), device=x0.device)
        return self.train_scheduler.add_noise(x0, noise, t), t, noise

    @torch.no_grad()
    def sample(self, denoise, shape, steps: int, generator: torch.Generator | None = None, device=None, temperature: float = 1.0,
               known: torch.Tensor | None = None, known_mask: torch.Tensor | None = None):
        """Run `denoise(x_t, t_batch)` from noise of std `temperature` through `steps` scheduler steps.

        With `known` (shape) and a boolean `known_mask` broadcastable to it, the masked entries are
        given, not sampled (inpainting): before each step they are set to `known` noised to that
        step's level along one fixed noise draw, so the denoiser sees them as it saw every entry in
        training, and they end exactly at `known`."""
        import copy

        x = torch.randn(shape, generator=generator, device=device) * temperature
        scheduler = copy.deepcopy(self.scheduler)  # this call's own loop state (see the class docstring)
        scheduler.set_timesteps(steps, device=device)
        known_noise = None if known is None else torch.randn(shape, generator=generator, device=device)
        for i, t in enumerate(scheduler.timesteps):
            if known is not None:
                x = torch.where(known_mask, self._noised(scheduler, known, known_noise, t, i), x)
            t_batch = torch.full((shape[0],), float(t), device=device)
            extra = {"generator": generator} if self.kind == "ddpm" else {}
            x = scheduler.step(denoise(x, t_batch), t, x, **extra).prev_sample
        return x if known is None else torch.where(known_mask, known, x)

    def _noised(self, scheduler, x0: torch.Tensor, noise: torch.Tensor, t, step_index: int) -> torch.Tensor:
        """x0 at the noise level of sampling step `step_index` (timestep t), along `noise`."""
        if self.kind == "flow":
            sigma = scheduler.sigmas[step_index]  # the level this step starts from
            return (1 - sigma) * x0 + sigma * noise
        return scheduler.add_noise(x0, noise, t.reshape(1))
