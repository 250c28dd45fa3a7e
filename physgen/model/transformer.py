"""The causal transformer over physical tokens, with the paper's mask, RoPE and a KV cache.

A physical step n is [frame tokens O_n (K_O); action tokens A_n (L)]. Attention rules (PhysGen):
  (a) frame tokens attend fully within their frame;
  (b) action tokens are causal within their chunk;
  (c) action tokens see their own step's frame tokens ("implicit inverse kinematics"), one way:
      frame tokens do not see their own step's actions;
  (d) steps are causal: a token sees earlier steps and none of later ones, and only the last
      `window` steps (its own included): sliding-window attention over the history H.
Stage-1 (video) sequences simply have no action tokens.

RoPE runs over one token counter (step * tokens_per_step + index in step); frame and action tokens
use separate frequency bases. With the band in (d), a KV cache that keeps the last H - 1 steps
gives exactly the outputs of recomputing the whole sequence with the same mask (deeper layers
still carry older information through the cached keys, as in any sliding-window transformer).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

FRAME, ACTION = 0, 1


@dataclass
class TokenLayout:
    """Per-token metadata of a sequence: step index, type (FRAME/ACTION), index within its group."""

    step: torch.Tensor  # (N,) long
    kind: torch.Tensor  # (N,) long
    index: torch.Tensor  # (N,) long

    @staticmethod
    def for_steps(first_step: int, num_steps: int, num_frame: int, num_action: int, device=None) -> TokenLayout:
        """Layout of num_steps whole steps; num_action = 0 for frames-only steps."""
        per = num_frame + num_action
        steps = torch.arange(first_step, first_step + num_steps, device=device).repeat_interleave(per)
        kind = torch.tensor([FRAME] * num_frame + [ACTION] * num_action, device=device).repeat(num_steps)
        index = torch.cat([torch.arange(num_frame, device=device), torch.arange(num_action, device=device)]).repeat(num_steps)
        return TokenLayout(steps, kind, index)

    def cat(self, other: TokenLayout) -> TokenLayout:
        return TokenLayout(torch.cat([self.step, other.step]), torch.cat([self.kind, other.kind]), torch.cat([self.index, other.index]))

    def positions(self, tokens_per_step: int, num_frame: int) -> torch.Tensor:
        offset = torch.where(self.kind == FRAME, self.index, num_frame + self.index)
        return self.step * tokens_per_step + offset  # (N,)

    def __len__(self) -> int:
        return self.step.numel()


def physical_mask(query: TokenLayout, key: TokenLayout, window: int | None = None) -> torch.Tensor:
    """(Nq, Nk) bool, True where the query may attend to the key (rules a-d above)."""
    qs, ks = query.step[:, None], key.step[None, :]
    qk, kk = query.kind[:, None], key.kind[None, :]
    qi, ki = query.index[:, None], key.index[None, :]
    earlier = ks < qs
    same = ks == qs
    frame_to_frame = (qk == FRAME) & (kk == FRAME)
    action_to_frame = (qk == ACTION) & (kk == FRAME)
    action_causal = (qk == ACTION) & (kk == ACTION) & (ki <= qi)
    allowed = earlier | (same & (frame_to_frame | action_to_frame | action_causal))
    if window is not None:
        allowed &= ks > qs - window
    return allowed


class Rotary(nn.Module):
    """Rotary embeddings with separate frequency bases for frame and action tokens."""

    def __init__(self, head_dim: int, theta_frame: float, theta_action: float):
        super().__init__()
        half = head_dim // 2
        exponents = torch.arange(half, dtype=torch.float32) / half
        self.register_buffer("inv_freq_frame", theta_frame**-exponents, persistent=False)
        self.register_buffer("inv_freq_action", theta_action**-exponents, persistent=False)

    def tables(self, positions: torch.Tensor, kind: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin (1, 1, N, hd/2) for tokens at positions (N,), frequencies chosen by kind (N,)."""
        inv = torch.where(kind[:, None] == FRAME, self.inv_freq_frame[None], self.inv_freq_action[None])  # (N, hd/2)
        angles = positions[:, None].float() * inv  # (N, hd/2)
        return angles.cos()[None, None], angles.sin()[None, None]

    @staticmethod
    def rotate(x: torch.Tensor, tables: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """x (B, nh, N, hd) rotated by the tables of its N tokens."""
        cos, sin = tables
        x1, x2 = x[..., ::2], x[..., 1::2]
        out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # (B, nh, N, hd/2, 2)
        return out.flatten(-2).type_as(x)


class KVCache:
    """Keys/values (already rotated) and layouts of past tokens for one attention layer."""

    def __init__(self):
        self.k: torch.Tensor | None = None  # (B, nh, N, hd)
        self.v: torch.Tensor | None = None
        self.layout: TokenLayout | None = None

    def keys_values(self, k, v) -> tuple[torch.Tensor, torch.Tensor]:
        """The cached keys and values followed by new ones (B, nh, N_new, hd): what new queries attend to."""
        if self.k is None:
            return k, v
        return torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)  # (B, nh, Nk, hd)

    def commit(self, k_all, v_all, layout: TokenLayout) -> None:
        """Keep keys_values' result and its layout: no second concatenation."""
        self.k, self.v, self.layout = k_all, v_all, layout

    def trim(self, min_step: int) -> None:
        """Drop tokens of steps before min_step (the history window). Steps are stored in order, so
        the kept tokens are a suffix: a view, no copy."""
        if self.layout is None:
            return
        start = int((self.layout.step < min_step).sum())
        if start == 0:
            return
        self.k, self.v = self.k[:, :, start:], self.v[:, :, start:]
        self.layout = TokenLayout(self.layout.step[start:], self.layout.kind[start:], self.layout.index[start:])


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, key_layout: TokenLayout, rope, mask, cache: KVCache | None, commit: bool):
        """key_layout: the layout of the cached tokens followed by x's (all of them without a cache)."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B, nh, N, hd)
        q, k = Rotary.rotate(q, rope), Rotary.rotate(k, rope)
        k_all, v_all = cache.keys_values(k, v) if cache is not None else (k, v)  # (B, nh, Nk, hd)
        if cache is not None and commit:
            cache.commit(k_all, v_all, key_layout)
        out = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=mask)  # (B, nh, N, hd)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x, key_layout, rope, mask, cache, commit):
        x = x + self.attn(self.norm1(x), key_layout, rope, mask, cache, commit)
        return x + self.mlp(self.norm2(x))


class PhysicalTransformer(nn.Module):
    """Embedded tokens (B, N, d) + their layout -> outputs (B, N, d), optionally through a KV cache."""

    def __init__(self, dim: int, depth: int, heads: int, mlp_ratio: int, num_frame: int, num_action: int,
                 window: int, theta_frame: float = 10_000.0, theta_action: float = 1_000.0):
        super().__init__()
        self.num_frame, self.num_action, self.window = num_frame, num_action, window
        self.rotary = Rotary(dim // heads, theta_frame, theta_action)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def new_kv_cache(self) -> list[KVCache]:
        """Empty per-layer caches. The caller (a Rollout) owns them, so one model can serve many
        sessions at once without sharing state."""
        return [KVCache() for _ in self.blocks]

    def trim_kv_cache(self, caches: list[KVCache], next_step: int) -> None:
        """Keep what the band lets step next_step see: steps next_step - window + 1 onwards."""
        for cache in caches:
            cache.trim(next_step - self.window + 1)

    @property
    def receptive_steps(self) -> int:
        """Steps back that can still influence an output through the stacked sliding windows."""
        return len(self.blocks) * (self.window - 1) + 1

    def forward(self, x: torch.Tensor, layout: TokenLayout, caches: list[KVCache] | None = None, commit: bool = True) -> torch.Tensor:
        """With caches (from new_kv_cache), x holds only new tokens; commit=False leaves the caches
        unchanged (a tentative step, e.g. an imagined frame the policy reads actions from)."""
        positions = layout.positions(self.num_frame + self.num_action, self.num_frame)
        # Rotary tables and the mask are the same for every layer (all caches hold the same steps),
        # so they are built once per call.
        rope = self.rotary.tables(positions, layout.kind)
        cached = caches[0].layout if caches is not None and caches[0].layout is not None else None
        key_layout = cached.cat(layout) if cached is not None else layout
        mask = physical_mask(layout, key_layout, self.window)  # (N, Nk)
        caches = caches if caches is not None else [None] * len(self.blocks)
        for block, cache in zip(self.blocks, caches):
            x = block(x, key_layout, rope, mask, cache, commit)
        return self.norm(x)
