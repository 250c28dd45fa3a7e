"""`physgen train`: stage 1 (video pretraining, frames only) and stage 2 (action fine-tuning).

Runs on CPU by default and under `accelerate launch` on several GPUs or nodes unchanged (the loop
goes through accelerate's Accelerator). Frames are read as cached tokens (physgen.data.latents).
Checkpoints every `val_every` steps to `<out>/state/` (resume by running the same command), a
validation loss on the seed-split val episodes, and loss curves in `<out>/loss.csv` + `loss.html`.
The finished model is written to `<out>/model/` with save_pretrained (LoRA merged in).
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from physgen.data.dataset import EPISODE_SETS
from physgen.errors import InputError

STAGES = ("video", "actions")
FINETUNE = ("full", "lora")
LORA_TARGETS = ["qkv", "proj", "mlp.0", "mlp.2"]
LOG_EVERY = 10  # steps between rows of loss.csv


@dataclass
class TrainConfig:
    stage: str  # "video" (stage 1, corpus frames only) or "actions" (stage 2, expert demos)
    out_dir: str
    tokenizer: str  # folder of the trained frame tokenizer
    demos: str = "data/demos"
    videos: str = "data/videos"
    init: str | None = None  # start from this PhysGen folder (stage 2: the stage-1 model)
    finetune: str = "full"  # stage 2 on an initialised model: "full" or "lora" (backbone only)
    lora_rank: int = 16
    model: dict = field(default_factory=dict)  # PhysGen kwargs for a new model, or overrides of the init config
    window: int = 8  # steps per training window; the attention band is the model's `history`
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.01
    minutes: float = 30.0  # wall-clock budget of this run (a resumed run gets a fresh budget)
    max_steps: int = 100_000
    val_every: int = 200
    val_batches: int = 6
    max_episodes_per_scene: int | None = None  # scarce-data experiments
    seed: int = 0
    latent_cache: str = "data/latents"
    token_pack: str | None = None  # read windows from a `physgen pack --tokens` folder instead (no h5, no tokenizer)
    pack_episodes: str = "all"  # which of the pack's episodes: "all", "demos" or "play" (physgen.data.dataset.EPISODE_SETS)
    workers: int = 0  # DataLoader worker processes
    cosine: bool = False  # decay the learning rate to 10 % over the run's time budget (after a 200-step warm-up)
    self_forcing: float = 0.0  # stage 2: fraction of windows fed the model's own open-loop frames (physgen.model.self_forcing)

    def __post_init__(self):
        if self.stage not in STAGES:
            raise InputError(f"stage must be one of {STAGES}; got {self.stage!r}")
        if self.finetune not in FINETUNE:
            raise InputError(f"finetune must be one of {FINETUNE}; got {self.finetune!r}")
        if self.finetune == "lora" and not self.init:
            raise InputError("finetune='lora' needs --init (a pretrained model to adapt)")
        for name in ("window", "batch_size", "max_steps", "val_every", "val_batches", "lora_rank"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1; got {getattr(self, name)}")
        if not 0.0 <= self.self_forcing <= 1.0:
            raise InputError(f"self_forcing is a fraction of windows, in [0, 1]; got {self.self_forcing}")
        if self.self_forcing > 0 and self.stage != "actions":
            raise InputError("self_forcing needs --stage actions: the model imagines a window under its recorded actions")
        if self.pack_episodes not in EPISODE_SETS:
            raise InputError(f"pack_episodes must be one of {EPISODE_SETS}; got {self.pack_episodes!r}")
        if self.token_pack is None and not Path(self.tokenizer).exists():
            raise InputError(f"tokenizer folder {self.tokenizer} does not exist; run `physgen train-tokenizer` first")


def build_datasets(cfg: TrainConfig, model_config, tokenizer):
    from physgen.data.dataset import DemoWindows, TokenPackWindows, VideoWindows, WindowConfig
    from physgen.data.latents import episode_tokens

    if cfg.token_pack:
        if cfg.stage != "actions":
            raise InputError("a token pack holds episodes with actions: use it with --stage actions")
        windows = WindowConfig(history=cfg.window, chunk=model_config.chunk, lookahead=model_config.lmtp, start_stride=1)
        return (TokenPackWindows(cfg.token_pack, windows, "train", cfg.pack_episodes),
                TokenPackWindows(cfg.token_pack, windows, "val", cfg.pack_episodes))
    windows = WindowConfig(history=cfg.window, chunk=model_config.chunk, lookahead=model_config.lmtp, start_stride=4)
    cls, root = (VideoWindows, cfg.videos) if cfg.stage == "video" else (DemoWindows, cfg.demos)
    train, val = cls(root, config=windows, split="train"), cls(root, config=windows, split="val")
    if cfg.max_episodes_per_scene:
        for data in (train, val):
            counts: dict[str, int] = {}
            kept = []
            for ep in data.episodes:
                counts[ep.scene] = counts.get(ep.scene, 0) + 1
                if counts[ep.scene] <= cfg.max_episodes_per_scene:
                    kept.append(ep)
            data.episodes = kept
            data.index = [(i, t0) for i, ep in enumerate(kept) for t0 in range(0, max(ep.num_frames - 1, 1), windows.start_stride)]
    tokens = episode_tokens(train.episodes + val.episodes, tokenizer, cfg.tokenizer, cfg.latent_cache)
    train.tokens = val.tokens = tokens
    return train, val


def _build_model(cfg: TrainConfig, state_dir: Path):
    from physgen.model.world_model import PhysGen

    if cfg.init and cfg.model:
        # A changed head (e.g. lmtp=1 for the ablation): the init's weights where shapes still match.
        init = PhysGen.from_pretrained(cfg.init)
        model = PhysGen(**{**{k: v for k, v in init.config.items() if not k.startswith("_")}, **cfg.model})
        own = model.state_dict()
        matching = {k: v for k, v in init.state_dict().items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(matching, strict=False)
        skipped = sorted(set(own) - set(matching))
        if skipped:
            print(f"init from {cfg.init}: {len(matching)} tensors loaded, {len(skipped)} new (e.g. {skipped[0]})")
    elif cfg.init:
        model = PhysGen.from_pretrained(cfg.init)
    else:
        model = PhysGen(**cfg.model)
    if cfg.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        model.backbone = get_peft_model(model.backbone, LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_rank, target_modules=LORA_TARGETS))
    if (state_dir / "model.safetensors").exists():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(state_dir / "model.safetensors"))
    return model


def _batch_loss(model, batch, stage: str, self_forcing: float = 0.0, unwrapped=None) -> dict:
    """The losses of a batch; with self_forcing, that fraction of its windows (drawn per window)
    is fed the model's own open-loop frames (`unwrapped`: the model itself, not its wrapper)."""
    if stage == "video":
        return model(batch["frames"], batch["frame_valid"])
    context = None
    if self_forcing > 0:
        from physgen.model.self_forcing import own_context

        frames = batch["frames"]
        rows = torch.rand(frames.shape[0], device=frames.device) < self_forcing
        context = own_context(unwrapped or model, frames, batch["actions"], batch["action_valid"], batch["boa"], rows)
    return model(batch["frames"], batch["frame_valid"], batch["actions"], batch["action_valid"], batch["boa"], batch.get("imitate"), context)


@torch.no_grad()
def validation_loss(model, loader, stage: str, batches: int, seed: int = 1234) -> dict:
    """Mean losses over the first `batches` val batches with fixed diffusion noise."""
    model.eval()
    totals: dict[str, float] = {}
    n = 0
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for i, batch in enumerate(loader):
            if i >= batches:
                break
            for k, v in _batch_loss(model, batch, stage).items():
                totals[k] = totals.get(k, 0.0) + float(v)
            n += 1
    model.train()
    return {k: v / max(n, 1) for k, v in totals.items()}


def train(cfg: TrainConfig, progress: bool = True) -> dict:
    from accelerate import Accelerator
    from safetensors.torch import save_file
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from physgen.model.tokenizer import FrameTokenizer

    out = Path(cfg.out_dir)
    state_dir = out / "state"
    out.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(mixed_precision="bf16" if torch.cuda.is_available() else "no")
    torch.manual_seed(cfg.seed)
    model = _build_model(cfg, state_dir)
    mcfg = model.config
    if cfg.token_pack:
        from physgen.data.packs import read_token_pack

        meta = read_token_pack(cfg.token_pack)[1]
        tokenizer, shape = None, (meta["num_tokens"], meta["token_dim"])
    else:
        tokenizer = FrameTokenizer.from_pretrained(cfg.tokenizer)
        shape = (tokenizer.config.num_tokens, tokenizer.config.token_dim)
    if shape != (mcfg.num_frame_tokens, mcfg.token_dim):
        raise InputError(
            f"the tokenizer gives {shape[0]} tokens of {shape[1]} dims; the model expects {mcfg.num_frame_tokens} of {mcfg.token_dim}"
        )
    train_set, val_set = build_datasets(cfg, mcfg, tokenizer)
    # Estimated from a seeded sample, so a resumed run (whose state holds weights, not the config)
    # gets the same value again.
    if mcfg.frame_target == "residual" and "residual_scale" not in cfg.model and not cfg.init:
        model.register_to_config(residual_scale=residual_scale_of(train_set))
        print(f"residual_scale = {model.config.residual_scale:.3f} (1 / std of frame-to-frame token changes)", flush=True)
    generator = torch.Generator().manual_seed(cfg.seed)
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, drop_last=True, generator=generator,
                              num_workers=cfg.workers, persistent_workers=cfg.workers > 0)
    val_loader = DataLoader(val_set, batch_size=cfg.batch_size, shuffle=False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, elapsed = 0, 0.0
    if (state_dir / "trainer.pt").exists():
        state = torch.load(state_dir / "trainer.pt", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed = state["step"], state["elapsed"]
        torch.manual_seed(cfg.seed + step)
    # Both loaders go through accelerate, which puts their batches on the model's device.
    model, optimizer, train_loader, val_loader = accelerator.prepare(model, optimizer, train_loader, val_loader)

    csv_path = out / "loss.csv"
    fresh = step == 0
    with open(csv_path, "w" if fresh else "a", newline="") as f:
        if fresh:
            csv.writer(f).writerow(["step", "seconds", "loss", "frame", "action", "val_loss", "val_frame", "val_action"])
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    info = dict(train_windows=len(train_set), val_windows=len(val_set), train_episodes=len(train_set.episodes),
                params=sum(p.numel() for p in accelerator.unwrap_model(model).parameters()),
                trainable=sum(p.numel() for p in params))
    print(f"train {cfg.stage}: {json.dumps(info)}", flush=True)

    run_start = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, initial=step, desc=f"train {cfg.stage}", unit="it", disable=not progress)
    val = {}
    done = False
    while not done:
        for batch in train_loader:
            if cfg.cosine:
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(cfg, step, time.perf_counter() - run_start)
            losses = _batch_loss(model, batch, cfg.stage, cfg.self_forcing, accelerator.unwrap_model(model))
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(losses["total"])
            accelerator.clip_grad_norm_(params, 1.0)
            optimizer.step()
            step += 1
            bar.update(1)
            out_of_time = time.perf_counter() - run_start > cfg.minutes * 60
            done = step >= cfg.max_steps or out_of_time
            validate = step % cfg.val_every == 0 or done
            if not (validate or step % LOG_EVERY == 0):
                continue  # reading a loss waits for the GPU: only every LOG_EVERY steps
            row = [step, round(elapsed + time.perf_counter() - run_start, 1), losses["total"].item(),
                   losses["frame"].item(), losses["action"].item() if "action" in losses else "", "", "", ""]
            if validate:
                val = validation_loss(model, val_loader, cfg.stage, cfg.val_batches)
                row[5:] = [val.get("total"), val.get("frame"), val.get("action", "")]
                bar.set_postfix(loss=f"{row[2]:.3f}", val=f"{val.get('total', float('nan')):.3f}")
                if accelerator.is_main_process:
                    state_dir.mkdir(exist_ok=True)
                    unwrapped = accelerator.unwrap_model(model)
                    save_file({k: v.contiguous() for k, v in unwrapped.state_dict().items()}, state_dir / "model.safetensors")
                    torch.save({"optimizer": optimizer.state_dict(), "step": step,
                                "elapsed": elapsed + time.perf_counter() - run_start}, state_dir / "trainer.pt")
            if accelerator.is_main_process:
                with open(csv_path, "a", newline="") as f:
                    csv.writer(f).writerow(row)
            if done:
                break
    bar.close()
    final = accelerator.unwrap_model(model)
    if cfg.finetune == "lora":
        final.backbone = final.backbone.merge_and_unload()
    metrics = dict(step=step, seconds=round(elapsed + time.perf_counter() - run_start, 1), val=val, **info)
    if accelerator.is_main_process:
        final.save_pretrained(out / "model")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        plot_losses(csv_path, out / "loss.html")
    return metrics


def cosine_lr(cfg: TrainConfig, step: int, seconds: float) -> float:
    """Warm up over 200 steps, then a cosine from lr to lr / 10 over the run's budget (time or steps,
    whichever runs out first)."""
    import math

    progress = min(max(seconds / (cfg.minutes * 60), step / cfg.max_steps), 1.0)
    return cfg.lr * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def residual_scale_of(dataset, windows: int = 256) -> float:
    """1 / std of the change between consecutive frames' tokens over a sample of windows."""
    g = torch.Generator().manual_seed(0)
    picks = torch.randint(len(dataset), (min(windows, len(dataset)),), generator=g).tolist()
    deltas = []
    for i in picks:
        item = dataset[i]
        valid = item["frame_valid"][1:] & item["frame_valid"][:-1]
        deltas.append((item["frames"][1:] - item["frames"][:-1])[valid])
    std = torch.cat(deltas).float().std().item()
    return round(1.0 / max(std, 1e-3), 4)


def plot_losses(csv_path: Path, html_path: Path) -> None:
    try:
        import plotly.graph_objects as go
    except ImportError:  # a bare training machine (a lent GPU): the CSV is the record
        return

    rows = list(csv.DictReader(open(csv_path)))
    fig = go.Figure()
    for key in ("loss", "val_loss", "frame", "action", "val_frame", "val_action"):
        pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) not in ("", None)]
        if pts:
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=key, mode="lines" if "val" not in key else "lines+markers"))
    fig.update_layout(title=f"PhysGen training: {csv_path.parent.name}", xaxis_title="step", yaxis_title="loss", yaxis_type="log")
    fig.write_html(html_path, include_plotlyjs=True)
