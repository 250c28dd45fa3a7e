"""PhysGen as an environment with the simulator's interface (physgen.env.Env).

The app steps a WorldModelEnv and a Simulator with the same actions (DIAMOND's pattern). The
world model starts from the simulator's real first frame of (scene, seed); after that it only
imagines. Actions are consumed in chunks of L (the model's physical step); a trailing partial chunk
is padded by holding still with the last gripper command. Policy mode is its own class
(physgen.model.policy.WorldModelPolicy), built on `imagine`, `propose` and `observe` here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from physgen.actions.space import pad_to_chunks, validate_actions
from physgen.env import EnvStep
from physgen.errors import InputError
from physgen.model.rollout import Rollout


@dataclass
class WorldObservation:
    frame: np.ndarray  # (H, W, 3) uint8, predicted (or the real first frame after reset)
    elapsed_steps: int  # control steps since reset


@dataclass
class WorldState:
    """A restorable point of a rollout: its history window (shared, never modified), not its caches,
    which set_state rebuilds from the window (a few KB per snapshot instead of megabytes)."""

    history: list  # the Rollout's steps (the receptive window) at the snapshot
    next_step: int  # the Rollout's absolute index of the next step
    generator: torch.Tensor  # the sampling generator's state
    elapsed_steps: int
    frame: np.ndarray  # (H, W, 3) uint8, the frame shown at the snapshot


class WorldModelEnv:
    def __init__(self, model, tokenizer, simulator=None, use_cache: bool = True, sample_steps: int | None = None, seed: int = 0,
                 fast_decode: bool | None = None):
        self.model, self.tokenizer = model.eval(), tokenizer.eval()
        self.simulator = simulator
        self.sample_steps = sample_steps
        self.fast_decode = fast_decode  # FrameTokenizer.decode's `fast`: None = the fast decoder when there is one
        self.rollout = Rollout(self.model, use_cache=use_cache)
        # Inputs follow the model's device (CPU here, a GPU on hosted hardware).
        self.device = next(self.model.parameters()).device
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._elapsed = 0
        self._started = False
        self._frame: np.ndarray | None = None  # the last frame shown

    @property
    def chunk(self) -> int:
        return self.model.config.chunk

    def reset(self, scene: str | None = None, seed: int = 0, frame: np.ndarray | None = None) -> WorldObservation:
        """Start from `frame` (H, W, 3) uint8, or from the simulator's first frame of (scene, seed)."""
        if frame is None:
            if self.simulator is None:
                raise InputError("WorldModelEnv.reset needs a first frame, or a simulator to render one")
            frame = self.simulator.reset(scene, seed).frame
        frame = np.asarray(frame)
        size = self.tokenizer.config.image_size
        if frame.shape != (size, size, 3) or frame.dtype != np.uint8:
            raise InputError(f"the first frame must be ({size}, {size}, 3) uint8; got {frame.shape} {frame.dtype}")
        self.generator.manual_seed(int(seed))
        self.rollout.start(self._encode(frame))
        self._elapsed, self._started, self._frame = 0, True, frame
        return WorldObservation(frame, 0)

    @property
    def elapsed_steps(self) -> int:
        return self._elapsed

    def step(self, actions) -> EnvStep:
        """Predict one frame per chunk of L actions (T, 7) or (7,)."""
        self._require_reset()
        acts, pad = pad_to_chunks(actions, self.chunk)
        frames = []
        for chunk in acts.reshape(-1, self.chunk, acts.shape[1]):
            frames.append(self._advance(torch.from_numpy(chunk)[None].to(self.device)))
        self._elapsed += len(acts)
        frames = np.stack(frames)
        self._frame = frames[-1]
        return EnvStep(frames, WorldObservation(frames[-1], self._elapsed), pad)

    def predict(self, chunk) -> np.ndarray:
        """The (H, W, 3) frame PhysGen predicts after one chunk of L actions, not committed: follow
        it with observe(real frame, chunk) to predict one chunk ahead of real frames (teacher forcing)."""
        self._require_reset()
        acts = validate_actions(chunk)
        if len(acts) != self.chunk:
            raise InputError(f"predict takes exactly one chunk of {self.chunk} actions; got {len(acts)}")
        tokens = self.rollout.predict_frame(torch.from_numpy(acts)[None].to(self.device), self.sample_steps, self.generator)
        return self._decode(tokens)

    def get_state(self) -> WorldState:
        """Snapshot for forking: set_state(get_state()) continues as if never left."""
        self._require_reset()
        r = self.rollout
        return WorldState(list(r.steps), r.step_index, self.generator.get_state(), self._elapsed, self._frame)

    def set_state(self, state: WorldState) -> WorldObservation:
        """Restart from a snapshot's history (the same frames and actions, at the same step indices)."""
        if not isinstance(state, WorldState):
            raise InputError(f"set_state needs a WorldState from get_state(); got {type(state).__name__}")
        self.rollout.replay(state.history, state.next_step)
        self.generator.set_state(state.generator)
        self._elapsed, self._started, self._frame = state.elapsed_steps, True, state.frame
        return WorldObservation(state.frame, state.elapsed_steps)

    def imagine(self) -> torch.Tensor:
        """Policy mode: the tokens (1, K, D) of the frame the model expects next, with no action given."""
        self._require_reset()
        return self.rollout.predict_frame(None, self.sample_steps, self.generator)

    def propose(self, imagined: torch.Tensor, lookahead: torch.Tensor | None = None) -> torch.Tensor:
        """Policy mode: the L-MTP block (lmtp, L, 7) that reaches `imagined`, conditioned on the
        previous block's lookahead (1, (lmtp - 1) * L, 7) or None."""
        self._require_reset()
        return self.rollout.propose_actions(imagined, lookahead, self.sample_steps, self.generator)[0]

    def decode(self, tokens: torch.Tensor) -> np.ndarray:
        """Frame tokens (1, K, D) -> the (H, W, 3) uint8 frame."""
        return self._decode(tokens)

    def observe(self, frame: np.ndarray, actions) -> None:
        """Policy mode: record the real frame reached after executing `actions` (one chunk)."""
        self._require_reset()
        acts = validate_actions(actions)
        if len(acts) != self.chunk:
            raise InputError(f"observe takes exactly one chunk of {self.chunk} actions; got {len(acts)}")
        self.rollout.observe(self._encode(np.asarray(frame)), torch.from_numpy(acts)[None].to(self.device))
        self._elapsed += self.chunk
        self._frame = np.asarray(frame)

    def reconstruct(self, frame: np.ndarray) -> np.ndarray:
        """The frame after the tokenizer's round trip: what a perfect world model could show at best."""
        return self._decode(self._encode(np.asarray(frame)))

    # ----------------------------------------------------------------- internals
    def _advance(self, chunk: torch.Tensor) -> np.ndarray:
        tokens = self.rollout.predict_frame(chunk, self.sample_steps, self.generator)  # (1, K, D)
        self.rollout.observe(tokens, chunk)
        return self._decode(tokens)

    def _encode(self, frame: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(frame).permute(2, 0, 1)[None].to(self.device)  # (1, 3, H, W)
        return self.tokenizer.to_tokens(self.tokenizer.encode(x))  # (1, K, D)

    def _decode(self, tokens: torch.Tensor) -> np.ndarray:
        frame = self.tokenizer.decode(self.tokenizer.from_tokens(tokens), self.fast_decode)[0]  # (3, H, W)
        return frame.permute(1, 2, 0).cpu().numpy()

    def _require_reset(self):
        if not self._started:
            raise InputError("call reset(scene, seed) first")
