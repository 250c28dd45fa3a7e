"""The recorded episodes on disk: where the converted demos and the corpus videos are, and their seeds.

Readers (datasets, packs, the token cache, evaluation) find episodes here without importing the
generators that wrote them (physgen.data.demos and physgen.data.videos need ManiSkill).
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path

from physgen.actions.space import CONTROL_MODE

DEMO_OBS_MODE = "rgb+segmentation"
PLAY_SOURCE = "play"  # the h5 `source` attribute of play episodes (physgen.data.play writes them)
# ManiSkill's replay_trajectory names its output <input stem>.<obs mode>.<control mode>.<backend>.h5.
CONVERTED_SUFFIX = f".{DEMO_OBS_MODE}.{CONTROL_MODE}.physx_cpu"


@dataclass(frozen=True)
class Episode:
    path: str
    key: str  # group in the h5 file ("traj_3", or "" for a corpus video)
    scene: str
    seed: int
    num_frames: int  # T + 1 for T actions
    # Whether the actions are demonstrations for the policy head to imitate; play episodes (random
    # drive chunks, physgen.data.play) train the frame prediction only.
    imitate: bool = True


def find_demo_episodes(root: str | os.PathLike, scenes: list[str] | None = None) -> list[Episode]:
    episodes = []
    for h5_path in sorted(glob.glob(os.path.join(root, "*", f"shard_*{CONVERTED_SUFFIX}.h5"))):
        meta = json.loads(Path(h5_path).with_suffix(".json").read_text())
        scene = meta["env_info"]["env_id"]
        if scenes and scene not in scenes:
            continue
        for ep in meta["episodes"]:
            seed = ep["reset_kwargs"].get("seed", ep.get("episode_seed"))
            seed = seed[0] if isinstance(seed, list) else seed
            episodes.append(Episode(h5_path, f"traj_{ep['episode_id']}", scene, int(seed), ep["elapsed_steps"] + 1))
    return episodes


def find_video_episodes(root: str | os.PathLike, scenes: list[str] | None = None) -> list[Episode]:
    import h5py

    episodes = []
    for h5_path in sorted(glob.glob(os.path.join(root, "*", "ep_*.h5"))):
        scene = Path(h5_path).parent.name
        if scenes and scene not in scenes:
            continue
        with h5py.File(h5_path, "r") as f:
            imitate = f.attrs.get("source", "") != PLAY_SOURCE
            episodes.append(Episode(h5_path, "", scene, int(f.attrs["seed"]), int(f["frames"].shape[0]), imitate))
    return episodes
