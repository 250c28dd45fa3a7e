"""The `physgen` console script: data generation, packs, training, export and the strip image.

Options left out take the defaults of the config or function they feed (TrainConfig,
TokenizerTrainConfig, build_token_pack): each default lives in one place."""

from __future__ import annotations

import argparse
import sys

from physgen import EVAL_SEED_START, IMAGE_SIZE
from physgen.data.play import PLAY_SEED_START
from physgen.errors import PhysGenError


def _demos(args) -> None:
    from physgen.data.demos import generate_demos

    for scene in args.scene:
        seed_start = args.seed_start if args.seed_start is not None else (EVAL_SEED_START if args.eval else 0)
        report = generate_demos(
            scene, args.num, args.out, seed_start=seed_start, shard_size=args.shard_size, image_size=args.image_size,
            evaluation=args.eval,
        )
        print(report.summary(), flush=True)


def _videos(args) -> None:
    from physgen.data.videos import generate_videos

    report = generate_videos(
        args.num, args.out, scenes=args.scenes, seed_start=args.seed_start, image_size=args.image_size
    )
    print(report.summary(), flush=True)


def _play(args) -> None:
    from physgen.data.play import generate_play

    for scene in args.scene:
        report = generate_play(scene, args.num, args.out, chunks=args.chunks, seed_start=args.seed_start, image_size=args.image_size)
        print(f"{scene}: {report['episodes']} play episodes ({report['new']} new, {report['frames']} frames) "
              f"in {report['seconds']:.0f} s", flush=True)


def _train_tokenizer(args) -> None:
    import json

    from physgen.model.tokenizer import TokenizerConfig
    from physgen.train.tokenizer import TokenizerTrainConfig, load_frames, train_tokenizer

    given = dict(minutes=args.minutes, max_steps=args.max_steps, batch_size=args.batch_size, max_frames=args.max_frames,
                 crop=args.crop, lr=args.lr, edge_weight=args.edge_weight, decoder_only=args.decoder_only or args.fast_decoder,
                 pair_fraction=args.pair_fraction,
                 fast_decoder=args.fast_decoder, fast_decoder_channels=tuple(args.fast_decoder_channels) if args.fast_decoder_channels else None,
                 eval_every=args.eval_every, cpu_bf16=args.cpu_bf16)
    config = TokenizerTrainConfig(**{k: v for k, v in given.items() if v is not None})
    given = dict(block_out_channels=tuple(args.channels) if args.channels else None, latent_channels=args.latent_channels, patch=args.patch)
    model_config = TokenizerConfig(**{k: v for k, v in given.items() if v is not None})
    if args.frames_pack:
        from pathlib import Path

        from physgen.data.packs import FRAMES_FILE, FRAMES_VAL_FILE, read_frame_pack

        frames, masks = read_frame_pack(Path(args.frames_pack) / FRAMES_FILE)
        val_frames, val_masks = read_frame_pack(Path(args.frames_pack) / FRAMES_VAL_FILE)
    else:
        frames, masks = load_frames(args.demos, args.videos, config.max_frames, config.seed, "train")
        val_frames, val_masks = load_frames(args.demos, args.videos, 96, config.seed + 1, "val")
    pairs = val_pairs = None
    if args.pairs:
        from physgen.train.decoder_pairs import DecoderPairs

        pairs = DecoderPairs.concat([DecoderPairs.load(path) for path in args.pairs])
        val_pairs = DecoderPairs.concat([DecoderPairs.load(path) for path in args.val_pairs]) if args.val_pairs else None
    metrics = train_tokenizer(frames, masks, val_frames, val_masks, args.out, config, model_config, resume=not args.restart, init=args.init,
                              pairs=pairs, val_pairs=val_pairs)
    print(json.dumps(metrics), flush=True)


def _decoder_pairs(args) -> None:
    import json
    from pathlib import Path

    import numpy as np
    import torch

    from physgen.data.dataset import split_of_seed
    from physgen.data.episodes import find_demo_episodes, find_video_episodes
    from physgen.model.checkpoint import load_checkpoint
    from physgen.train.decoder_pairs import make_pairs

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_checkpoint(args.checkpoint)
    episodes = []
    for root, find in ((args.demos, find_demo_episodes), (args.videos, find_video_episodes), (args.play, find_video_episodes)):
        found = find(root) if root and Path(root).exists() else []
        for scene in sorted({e.scene for e in found}):
            chosen = [e for e in found if e.scene == scene and e.seed < EVAL_SEED_START and split_of_seed(e.seed) == args.split]
            rng = np.random.default_rng(args.seed)
            episodes += [chosen[i] for i in sorted(rng.permutation(len(chosen))[: args.per_scene])]
    episodes = episodes[args.shard :: args.shards]
    pairs = make_pairs(model, tokenizer, episodes, args.open_loop)
    size = pairs.save(args.out)
    print(json.dumps({"episodes": len(episodes), "pairs": len(pairs), "bytes": size, "out": args.out}), flush=True)


def _pack(args) -> None:
    import json
    from pathlib import Path

    from physgen.data.packs import FRAMES_FILE, FRAMES_VAL_FILE, build_token_pack, write_frame_pack
    from physgen.train.tokenizer import load_frames

    if not args.frames and not args.tokens:
        from physgen.errors import InputError

        raise InputError("say what to pack: --frames N (tokenizer training) and/or --tokens (world-model training)")
    if args.frames:
        frames, masks = load_frames(args.demos, args.videos, args.frames, 0, "train")
        size = write_frame_pack(frames, masks, Path(args.out) / FRAMES_FILE)
        val_frames, val_masks = load_frames(args.demos, args.videos, 96, 1, "val")
        size += write_frame_pack(val_frames, val_masks, Path(args.out) / FRAMES_VAL_FILE)
        print(json.dumps({"frames": len(frames), "val_frames": len(val_frames), "bytes": size}), flush=True)
    if args.tokens:
        given = {"frame_stride": args.frame_stride} if args.frame_stride is not None else {}
        print(json.dumps(build_token_pack(args.tokenizer, args.demos, args.videos, args.out, play_root=args.play, **given)), flush=True)


def _train(args) -> None:
    import json

    from physgen.train.world_model import TrainConfig, train

    given = dict(demos=args.demos, videos=args.videos, init=args.init, finetune=args.finetune, lora_rank=args.lora_rank,
                 window=args.window, batch_size=args.batch_size, lr=args.lr, minutes=args.minutes, max_steps=args.max_steps,
                 val_every=args.val_every, max_episodes_per_scene=args.max_episodes_per_scene, seed=args.seed,
                 token_pack=args.token_pack, pack_episodes=args.pack_episodes, workers=args.workers,
                 self_forcing=args.self_forcing)
    config = TrainConfig(stage=args.stage, out_dir=args.out, tokenizer=args.tokenizer, model=json.loads(args.model), cosine=args.cosine,
                         **{k: v for k, v in given.items() if v is not None})
    print(json.dumps(train(config)), flush=True)


def _train_head(args) -> None:
    import json

    from physgen.model.checkpoint import load_checkpoint

    given = {"minutes": args.minutes, "max_steps": args.max_steps, "batch_size": args.batch_size, "lr": args.lr, "cosine": args.cosine,
             "eval_every": args.eval_every}
    if args.command == "train-action-head":
        from physgen.train.action_head import ActionHeadTrainConfig as Config
        from physgen.train.action_head import train_action_head as train

        given["scale_actions"] = not args.raw_actions
    else:
        from physgen.train.frame_head import FrameHeadTrainConfig as Config
        from physgen.train.frame_head import train_frame_head as train
    model, _ = load_checkpoint(args.checkpoint)
    result = train(model, args.pack, args.out, Config(**{k: v for k, v in given.items() if v is not None}), features_dir=args.features)
    print(json.dumps({k: v for k, v in result.items() if k != "config"}), flush=True)


def _export(args) -> None:
    from physgen.model.checkpoint import export_checkpoint, load_checkpoint

    size = export_checkpoint(args.model, args.tokenizer, args.out, sample_steps=args.sample_steps, cfg_scale=args.cfg_scale,
                             cfg_interval=args.cfg_interval, frame_temperature=args.frame_temperature,
                             action_temperature=args.action_temperature, frame_rounds=args.frame_rounds)
    load_checkpoint(args.out)  # the exported folder must load
    print(f"exported {args.out}: {size / 1e6:.1f} MB (fp16 safetensors)", flush=True)


def _strip(args) -> None:
    import mediapy
    import numpy as np

    from physgen.data.episode_io import side_by_side
    from physgen.eval.open_loop import episode_rollout, held_out_episodes
    from physgen.model.checkpoint import load_checkpoint
    from physgen.model.world_env import WorldModelEnv
    from physgen.sim.simulator import Simulator

    model, tokenizer = load_checkpoint(args.checkpoint)
    env, simulator = WorldModelEnv(model, tokenizer, sample_steps=model.config.sample_steps), Simulator()
    rows = []
    for episodes in held_out_episodes(args.eval_root, per_scene=args.per_scene).values():
        for ep in episodes:
            first, real, _, pred = episode_rollout(env, simulator, ep, args.horizon)
            picked = list(range(args.every - 1, args.horizon, args.every))
            top = np.concatenate([first.frame, *real[picked]], axis=1)  # real: first frame, then every k-th chunk
            bottom = np.concatenate([first.frame, *pred[picked]], axis=1)  # predicted from the same first frame
            rows.append(side_by_side(top.transpose(1, 0, 2), bottom.transpose(1, 0, 2)).transpose(1, 0, 2))
    simulator.close()
    mediapy.write_image(args.out, np.concatenate(rows, axis=0))
    print(f"wrote {args.out}: per held-out episode, real frames (top) over PhysGen's (bottom), every {args.every} chunks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="physgen", description="PhysGen: video models as physics simulators.")
    sub = parser.add_subparsers(dest="command", required=True)

    demos = sub.add_parser("demos", help="expert demos (motion planning -> pd_ee_delta_pose + RGB, ManiSkill h5)")
    demos.add_argument("--scene", nargs="+", required=True, help="PushCube-v1, PickCube-v1 and/or StackCube-v1")
    demos.add_argument("--num", type=int, required=True, help="successful demos per scene")
    demos.add_argument("--out", required=True, help="output folder (git-ignored, e.g. data/demos)")
    demos.add_argument("--seed-start", type=int, default=None, help=f"first seed (default 0, or {EVAL_SEED_START} with --eval)")
    demos.add_argument("--eval", action="store_true", help=f"held-out evaluation demos from seeds >= {EVAL_SEED_START} (never for training)")
    demos.add_argument("--shard-size", type=int, default=25, help="demos per resumable shard")
    demos.add_argument("--image-size", type=int, default=IMAGE_SIZE, help="camera resolution (pixels)")
    demos.set_defaults(func=_demos)

    videos = sub.add_parser("videos", help="action-free video corpus from other ManiSkill scenes")
    videos.add_argument("--num", type=int, required=True, help="number of videos (round-robin over scenes)")
    videos.add_argument("--out", required=True, help="output folder (git-ignored, e.g. data/videos)")
    videos.add_argument("--scenes", nargs="+", default=None, help="subset of the corpus scenes")
    videos.add_argument("--seed-start", type=int, default=0, help=f"first seed (< {EVAL_SEED_START})")
    videos.add_argument("--image-size", type=int, default=IMAGE_SIZE, help="camera resolution (pixels)")
    videos.set_defaults(func=_videos)

    play = sub.add_parser("play", help="play episodes: random drive chunks in the target scenes (frames + actions)")
    play.add_argument("--scene", nargs="+", required=True, help="PushCube-v1, PickCube-v1 and/or StackCube-v1")
    play.add_argument("--num", type=int, required=True, help="episodes per scene")
    play.add_argument("--out", default="data/play", help="output folder (git-ignored)")
    play.add_argument("--chunks", type=int, default=20, help="chunks per episode")
    play.add_argument("--seed-start", type=int, default=PLAY_SEED_START, help=f"first seed (< {EVAL_SEED_START})")
    play.add_argument("--image-size", type=int, default=IMAGE_SIZE, help="camera resolution (pixels)")
    play.set_defaults(func=_play)

    tok = sub.add_parser("train-tokenizer", help="train the frame VAE on demos + corpus frames (resumable)")
    tok.add_argument("--demos", default="data/demos")
    tok.add_argument("--videos", default="data/videos")
    tok.add_argument("--out", default="runs/tokenizer")
    tok.add_argument("--minutes", type=float, default=None, help="wall-clock budget of this run")
    tok.add_argument("--max-steps", type=int, default=None)
    tok.add_argument("--batch-size", type=int, default=None)
    tok.add_argument("--max-frames", type=int, default=None)
    tok.add_argument("--crop", type=int, default=None, help="training crop size; the frame size = whole frames")
    tok.add_argument("--lr", type=float, default=None)
    tok.add_argument("--edge-weight", type=float, default=None, help="extra L1 weight on edges")
    tok.add_argument("--latent-channels", type=int, default=None, help="default: TokenizerConfig's")
    tok.add_argument("--patch", type=int, default=None, help="latent patch per token (default: TokenizerConfig's)")
    tok.add_argument("--channels", type=int, nargs="+", default=None, help="VAE block widths, 4 levels = stride 8 (default: TokenizerConfig's)")
    tok.add_argument("--frames-pack", default=None, help="read frames from a `physgen pack --frames` folder instead")
    tok.add_argument("--init", default=None, help="start from this trained tokenizer folder")
    tok.add_argument("--decoder-only", action="store_true", help="fine-tune the decoder only (tokens stay as they are)")
    tok.add_argument("--fast-decoder", action="store_true",
                     help="train the tokenizer's fast decoder alone (made from --init's decoder if it has none); tokens stay")
    tok.add_argument("--fast-decoder-channels", type=int, nargs="+", default=None, help="its block widths (default: physgen.model.fast_decoder's)")
    tok.add_argument("--eval-every", type=int, default=None, help="steps between val scores and checkpoints")
    tok.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in --out")
    tok.add_argument("--pairs", nargs="+", default=None, help="with --decoder-only: `physgen decoder-pairs` files mixed into each batch")
    tok.add_argument("--val-pairs", nargs="+", default=None, help="decoder pairs files of val episodes, scored at each evaluation")
    tok.add_argument("--pair-fraction", type=float, default=None, help="share of each batch taken from --pairs")
    tok.add_argument("--cpu-bf16", action=argparse.BooleanOptionalAction, default=None,
                     help="train in bf16 on the CPU too (default: on CPUs with AMX, where it is measured better at "
                          "equal time; a GPU always uses bf16)")
    tok.set_defaults(func=_train_tokenizer)

    dp = sub.add_parser("decoder-pairs", help="the world model's predicted latents with the real frames, for fine-tuning the decoder")
    dp.add_argument("--checkpoint", default="checkpoints/physgen-small", help="folder or hub id")
    dp.add_argument("--demos", default="data/demos")
    dp.add_argument("--videos", default="data/videos")
    dp.add_argument("--play", default="data/play")
    dp.add_argument("--split", choices=["train", "val"], default="train", help="episodes by seed, as training splits them")
    dp.add_argument("--per-scene", type=int, default=40, help="episodes per scene of each source (demos, corpus, play)")
    dp.add_argument("--open-loop", type=int, default=8, help="chunks of the open-loop pairs from each episode's first frame")
    dp.add_argument("--seed", type=int, default=0, help="which episodes are chosen")
    dp.add_argument("--shard", type=int, default=0, help="make every --shards-th episode from this one (parallel processes)")
    dp.add_argument("--shards", type=int, default=1)
    dp.add_argument("--threads", type=int, default=None, help="torch threads")
    dp.add_argument("--out", default="data/decoder_pairs/train.npz")
    dp.set_defaults(func=_decoder_pairs)

    pk = sub.add_parser("pack", help="compact training data to carry to another machine (frames and/or tokens)")
    pk.add_argument("--frames", type=int, default=0, help="sample this many frames for tokenizer training")
    pk.add_argument("--tokens", action="store_true", help="tokens + actions of every episode with actions")
    pk.add_argument("--tokenizer", default="runs/tokenizer/last", help="for --tokens")
    pk.add_argument("--frame-stride", type=int, default=None, help="keep frames at control steps t %% stride == 0 (default: build_token_pack's)")
    pk.add_argument("--demos", default="data/demos")
    pk.add_argument("--videos", default="data/videos")
    pk.add_argument("--play", default="data/play", help="play episodes (physgen play) for --tokens, if the folder exists")
    pk.add_argument("--out", default="pack")
    pk.set_defaults(func=_pack)

    tr = sub.add_parser("train", help="stage 1 (--stage video) or stage 2 (--stage actions) training; resumable")
    tr.add_argument("--stage", choices=["video", "actions"], required=True)
    tr.add_argument("--out", required=True, help="run folder (git-ignored, e.g. runs/stage1)")
    tr.add_argument("--tokenizer", default="runs/tokenizer/last")
    tr.add_argument("--demos", default=None)
    tr.add_argument("--videos", default=None)
    tr.add_argument("--init", default=None, help="PhysGen folder to start from (the stage-1 model)")
    tr.add_argument("--finetune", choices=["full", "lora"], default=None)
    tr.add_argument("--lora-rank", type=int, default=None)
    tr.add_argument("--model", default="{}", help='JSON of PhysGen kwargs for a new model, e.g. \'{"lmtp": 1}\'')
    tr.add_argument("--window", type=int, default=None)
    tr.add_argument("--batch-size", type=int, default=None)
    tr.add_argument("--lr", type=float, default=None)
    tr.add_argument("--minutes", type=float, default=None, help="wall-clock budget of this run")
    tr.add_argument("--max-steps", type=int, default=None)
    tr.add_argument("--val-every", type=int, default=None)
    tr.add_argument("--max-episodes-per-scene", type=int, default=None)
    tr.add_argument("--seed", type=int, default=None)
    tr.add_argument("--token-pack", default=None, help="train from a `physgen pack --tokens` folder (stage 2)")
    tr.add_argument("--pack-episodes", default=None, help="with --token-pack: all (default), demos (without play) or play")
    tr.add_argument("--workers", type=int, default=None, help="DataLoader worker processes")
    tr.add_argument("--cosine", action="store_true", help="cosine learning-rate decay over the time budget")
    tr.add_argument("--self-forcing", type=float, default=None,
                    help="fraction of windows fed the model's own open-loop frames instead of the real ones (stage 2)")
    tr.set_defaults(func=_train)

    heads = {"train-action-head": "retrain the policy's Action-DiT alone on cached backbone features (frames unchanged)",
             "train-frame-head": "fine-tune the frame head alone on cached backbone features (policy unchanged)"}
    for name, help_text in heads.items():
        hp = sub.add_parser(name, help=help_text)
        hp.add_argument("--checkpoint", default="checkpoints/physgen-small", help="the model to start from (folder or hub id)")
        hp.add_argument("--pack", default="pack/tokens_v1_1", help="a `physgen pack --tokens` folder")
        hp.add_argument("--out", required=True, help="run folder (git-ignored); the model goes to <out>/model")
        hp.add_argument("--minutes", type=float, default=20.0)
        hp.add_argument("--max-steps", type=int, default=None,
                        help="stop after this many steps, whichever of the two budgets ends first; --cosine then decays over the steps")
        hp.add_argument("--batch-size", type=int, default=32)
        hp.add_argument("--lr", type=float, default=None, help="default: 3e-4 for the action head, 1e-4 for the frame head")
        hp.add_argument("--eval-every", type=int, default=500)
        hp.add_argument("--cosine", action="store_true", help="cosine learning-rate decay over the budget")
        hp.add_argument("--features", default=None,
                        help="folder of cached backbone features, reused by later runs on the same backbone and pack (default <out>/features)")
        if name == "train-action-head":
            hp.add_argument("--raw-actions", action="store_true", help="keep raw action units (v1.1) instead of the demonstrations' std")
        hp.set_defaults(func=_train_head)

    ex = sub.add_parser("export", help="write a shippable fp16 checkpoint folder (model + tokenizer)")
    ex.add_argument("--model", required=True, help="a trained PhysGen folder (e.g. runs/stage2/model)")
    ex.add_argument("--tokenizer", default="runs/tokenizer/last")
    ex.add_argument("--out", default="checkpoints/physgen-small")
    ex.add_argument("--sample-steps", type=int, default=None, help="sampling steps the checkpoint ships with (default: as trained)")
    ex.add_argument("--cfg-scale", type=float, default=None, help="action guidance the checkpoint ships with (default: as trained)")
    ex.add_argument("--cfg-interval", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="guide only at sampling times t/T in [LO, HI] (default: as trained)")
    ex.add_argument("--frame-temperature", type=float, default=None,
                    help="std of the frame sampler's starting noise, in [0, 2] (default: as trained)")
    ex.add_argument("--action-temperature", type=float, default=None,
                    help="std of the policy's action sampler's starting noise, in [0, 2] (default: as trained)")
    ex.add_argument("--frame-rounds", type=int, default=None,
                    help="rounds of frame sampling, MAR-style; > 1 needs the joint frame head (default: as trained)")
    ex.set_defaults(func=_export)

    st = sub.add_parser("strip", help="an image of real vs predicted frames on held-out demos (open loop)")
    st.add_argument("--checkpoint", default="checkpoints/physgen-small", help="folder or hub id")
    st.add_argument("--eval-root", default="data/eval_demos")
    st.add_argument("--per-scene", type=int, default=1, help="held-out episodes per task")
    st.add_argument("--horizon", type=int, default=16, help="chunks to predict")
    st.add_argument("--every", type=int, default=2, help="show every k-th chunk")
    st.add_argument("--out", default="runs/strip.png")
    st.set_defaults(func=_strip)
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
