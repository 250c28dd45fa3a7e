"""Episodes on disk: the actions as JSON (to share and replay) and the side-by-side mp4.

The JSON keeps the exact actions plus the text they were typed as, so a file loads back into the
studio as the same typed commands when the text still parses to the same actions, and as raw
steps otherwise.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physgen.actions.language import actions_to_text, parse_actions
from physgen.actions.space import ACTION_DIM, DEFAULT_CHUNK_LEN, validate_actions
from physgen.errors import InputError
from physgen.sim.scenes import get_scene

FORMAT = "physgen-actions/1"
MAX_FILE_BYTES = 2_000_000


@dataclass
class ActionRecord:
    scene: str
    seed: int
    actions: np.ndarray  # (T, 7) float32, every control step executed since the scene was loaded
    texts: tuple[str, ...] = ()  # the typed programs, in run order
    chunk: int = DEFAULT_CHUNK_LEN  # control steps per chunk of the model that ran them

    def __post_init__(self):
        get_scene(self.scene)  # InputError naming the accepted scenes
        if not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be a non-negative integer; got {self.seed!r}")
        self.actions = validate_actions(self.actions) if len(self.actions) else np.zeros((0, ACTION_DIM), np.float32)

    def to_json(self) -> str:
        return json.dumps(
            {"format": FORMAT, "scene": self.scene, "seed": self.seed, "chunk": self.chunk,
             "texts": list(self.texts), "actions": np.round(self.actions.astype(np.float64), 7).tolist()},
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> ActionRecord:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"the actions file is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"the actions file must be a JSON object with \"format\": \"{FORMAT}\" (as the studio exports)")
        missing = [k for k in ("scene", "seed", "actions") if k not in data]
        if missing:
            raise InputError(f"the actions file lacks {', '.join(missing)}")
        texts = data.get("texts") or []
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InputError("'texts' must be a list of strings")
        actions = data["actions"]
        if not isinstance(actions, list) or not actions:
            raise InputError("'actions' must be a non-empty list of 7-number steps")
        # Files without "chunk" come from before it was recorded, when every model used the default.
        return cls(data["scene"], data["seed"], validate_actions(actions), tuple(texts), int(data.get("chunk", DEFAULT_CHUNK_LEN)))

    def program_text(self) -> str:
        """Text for the actions box: the typed programs if they reproduce the actions, else raw steps."""
        joined = "\n".join(self.texts)
        if joined.strip():
            try:
                typed = parse_actions(joined, chunk_len=self.chunk, max_steps=1_000_000).actions
                # Runs are padded to whole chunks, so the record may end with extra hold steps.
                if len(typed) <= len(self.actions) and np.allclose(typed, self.actions[: len(typed)], atol=1e-5):
                    tail = self.actions[len(typed):]
                    return joined if not len(tail) or np.allclose(tail[:, :6], 0) else joined + "\n" + actions_to_text(tail)
            except InputError:
                pass
        return actions_to_text(self.actions)


def read_action_file(path: str | os.PathLike) -> ActionRecord:
    path = Path(path)
    if path.suffix.lower() != ".json":
        raise InputError(f"load an actions file ending in .json (as exported here); got {path.name!r}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"the actions file is {size / 1e6:.1f} MB; at most {MAX_FILE_BYTES / 1e6:.0f} MB is accepted")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("the actions file is not UTF-8 text") from None
    return ActionRecord.from_json(text)


def side_by_side(real: np.ndarray, predicted: np.ndarray, gap: int = 4) -> np.ndarray:
    """(H, 2W + gap, 3) uint8: the real frame left, the predicted frame right."""
    h = real.shape[0]
    divider = np.full((h, gap, 3), 255, np.uint8)
    return np.concatenate([real, divider, predicted], axis=1)


def write_side_by_side_video(path: str | os.PathLike, real: list[np.ndarray], predicted: list[np.ndarray], fps: int = 4, scale: int = 2) -> Path:
    """mp4 of real | predicted, one video frame per chunk, upscaled by `scale` (nearest)."""
    import mediapy

    if len(real) != len(predicted) or not real:
        raise InputError(f"need the same non-zero number of real and predicted frames; got {len(real)} and {len(predicted)}")
    frames = np.stack([side_by_side(r, p) for r, p in zip(real, predicted)])  # (N, H, 2W+gap, 3)
    frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    # H.264 needs even sizes.
    frames = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]
    path = Path(path)
    mediapy.write_video(path, frames, fps=fps)
    return path
