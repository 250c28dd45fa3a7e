"""The `physgen` console script: data generation (and, later, training and evaluation)."""

from __future__ import annotations

import argparse
import sys

from physgen.errors import PhysGenError


def _demos(args) -> None:
    from physgen.demos import generate_demos

    for scene in args.scene:
        report = generate_demos(
            scene, args.num, args.out, seed_start=args.seed_start, shard_size=args.shard_size, image_size=args.image_size
        )
        print(report.summary(), flush=True)


def _videos(args) -> None:
    from physgen.videos import generate_videos

    report = generate_videos(
        args.num, args.out, scenes=args.scenes, seed_start=args.seed_start, image_size=args.image_size
    )
    print(report.summary(), flush=True)


def _train_tokenizer(args) -> None:
    import json

    from physgen.tokenizer import TokenizerTrainConfig, train_tokenizer

    config = TokenizerTrainConfig(minutes=args.minutes, max_steps=args.max_steps, batch_size=args.batch_size, max_frames=args.max_frames)
    metrics = train_tokenizer(args.demos, args.videos, args.out, config, resume=not args.restart)
    print(json.dumps(metrics), flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="physgen", description="PhysGen: video models as physics simulators.")
    sub = parser.add_subparsers(dest="command", required=True)

    demos = sub.add_parser("demos", help="expert demos (motion planning -> pd_ee_delta_pose + RGB, ManiSkill h5)")
    demos.add_argument("--scene", nargs="+", required=True, help="PushCube-v1, PickCube-v1 and/or StackCube-v1")
    demos.add_argument("--num", type=int, required=True, help="successful demos per scene")
    demos.add_argument("--out", required=True, help="output folder (git-ignored, e.g. data/demos)")
    demos.add_argument("--seed-start", type=int, default=0, help="first training seed (< 10000)")
    demos.add_argument("--shard-size", type=int, default=25, help="demos per resumable shard")
    demos.add_argument("--image-size", type=int, default=128, help="camera resolution (pixels)")
    demos.set_defaults(func=_demos)

    videos = sub.add_parser("videos", help="action-free video corpus from other ManiSkill scenes")
    videos.add_argument("--num", type=int, required=True, help="number of videos (round-robin over scenes)")
    videos.add_argument("--out", required=True, help="output folder (git-ignored, e.g. data/videos)")
    videos.add_argument("--scenes", nargs="+", default=None, help="subset of the corpus scenes")
    videos.add_argument("--seed-start", type=int, default=0, help="first seed (< 10000)")
    videos.add_argument("--image-size", type=int, default=128, help="camera resolution (pixels)")
    videos.set_defaults(func=_videos)

    tok = sub.add_parser("train-tokenizer", help="train the frame VAE on demos + corpus frames (resumable)")
    tok.add_argument("--demos", default="data/demos")
    tok.add_argument("--videos", default="data/videos")
    tok.add_argument("--out", default="runs/tokenizer")
    tok.add_argument("--minutes", type=float, default=25.0, help="wall-clock budget of this run")
    tok.add_argument("--max-steps", type=int, default=100_000)
    tok.add_argument("--batch-size", type=int, default=16)
    tok.add_argument("--max-frames", type=int, default=12_000)
    tok.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in --out")
    tok.set_defaults(func=_train_tokenizer)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except PhysGenError as exc:
        print(f"physgen {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"physgen {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
