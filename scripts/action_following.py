"""Does a checkpoint follow its actions? Open loop on a token pack's val episodes with the recorded
chunks, with zero chunks, and with another episode's chunks (physgen.eval.open_loop.pack_open_loop).

`python scripts/action_following.py runs/v1b pack/tokens_v1 --episodes 16 --horizon 8 [--set play]`
"""

from __future__ import annotations

import argparse
import json

import torch

from physgen.data.dataset import EPISODE_SETS
from physgen.eval.open_loop import ACTION_SOURCES, pack_open_loop
from physgen.model.checkpoint import load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("pack", help="a `physgen pack --tokens` folder made with the checkpoint's tokenizer")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--set", default="demos", choices=EPISODE_SETS, help="which val episodes (play: random drive chunks)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, tokenizer = load_checkpoint(args.checkpoint)
    for source in ACTION_SOURCES:
        result = pack_open_loop(model, tokenizer, args.pack, args.horizon, args.episodes, action_source=source, episodes=args.set)
        print(json.dumps({"actions": source, **{k: result[k] for k in ("episodes", "psnr_first", "psnr_mean", "psnr_by_step")}}), flush=True)


if __name__ == "__main__":
    main()
