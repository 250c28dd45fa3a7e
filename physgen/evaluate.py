"""Open-loop evaluation against the simulator on held-out seeds (>= EVAL_SEED_START).

For each held-out expert episode the simulator and the world model start from the same real
frame and receive the same expert actions (padded with holds to the horizon); the model never sees
a real frame again. Every chunk's predicted frame is compared with the simulator's frame:
whole-frame PSNR and SSIM, PSNR on the changed pixels only (where the real frame differs from the
first one: the static background dominates whole-frame PSNR), and on the object pixels (from
segmentation). Baselines: copying the last real frame, and the VAE's own reconstruction (a ceiling).
"""

from __future__ import annotations


import numpy as np

from physgen.dataset import find_demo_episodes
from physgen.errors import InputError
from physgen.metrics import frame_metrics
from physgen.scenes import TARGET_TASKS

def episode_rollout(env, simulator, episode, horizon: int = 16):
    """One held-out demo, open loop: (first real observation, real frames (horizon, H, W, 3) after
    each chunk, their object masks, PhysGen's predicted frames for the same expert actions)."""
    import h5py

    with h5py.File(episode.path, "r") as f:
        actions = f[episode.key]["actions"][:]
    chunk = env.chunk
    total = horizon * chunk
    acts = np.zeros((total, 7), np.float32)
    n = min(total, len(actions))
    acts[:n] = actions[:n]
    acts[n:, 6] = actions[n - 1, 6]  # after the demo: hold still
    first = simulator.reset(episode.scene, episode.seed)
    real = simulator.step(acts)
    env.reset(frame=first.frame, seed=episode.seed)
    pred = env.step(acts).frames
    return first, real.frames[chunk - 1 :: chunk], real.object_masks[chunk - 1 :: chunk], pred


def held_out_episodes(eval_root, scenes=TARGET_TASKS, per_scene: int = 3) -> dict[str, list]:
    episodes = [e for e in find_demo_episodes(eval_root, list(scenes)) if e.seed >= 10_000]
    if not episodes:
        raise InputError(f"no held-out demos under {eval_root}; run `physgen demos --eval --scene ... --num N --out {eval_root}`")
    chosen: dict[str, list] = {}
    for ep in episodes:
        if len(chosen.setdefault(ep.scene, [])) < per_scene:
            chosen[ep.scene].append(ep)
    return chosen


def open_loop(env, simulator, eval_root, scenes=TARGET_TASKS, episodes_per_scene: int = 3, horizon: int = 16) -> dict:
    """Mean metrics of the world model and the baselines over held-out episodes.

    env is a physgen.world_env.WorldModelEnv; simulator a physgen.sim.Simulator.
    """
    import torch

    chosen = held_out_episodes(eval_root, scenes, episodes_per_scene)
    rows = {name: [] for name in ("model", "copy_last", "vae")}
    per_horizon = {name: np.zeros(horizon) for name in rows}
    count = 0
    for scene, eps in chosen.items():
        for ep in eps:
            first, real_frames, real_masks, pred = episode_rollout(env, simulator, ep, horizon)
            tok = env.tokenizer
            with torch.no_grad():
                x = torch.from_numpy(real_frames).permute(0, 3, 1, 2)
                vae = tok.decode(tok.encode(x)).permute(0, 2, 3, 1).numpy()
            for name, frames in (("model", pred), ("copy_last", np.repeat(first.frame[None], horizon, 0)), ("vae", vae)):
                metrics = [frame_metrics(frames[k], real_frames[k], first.frame, real_masks[k]) for k in range(horizon)]
                rows[name].append(metrics)
                per_horizon[name] += np.array([m["psnr"] for m in metrics])
            count += 1
    summary = {"episodes": count, "horizon": horizon, "scenes": sorted(chosen)}
    for name, eps in rows.items():
        for key in ("psnr", "ssim", "psnr_changed", "psnr_object"):
            values = np.array([[m[key] for m in ep] for ep in eps])  # (episodes, horizon)
            summary[f"{key}_{name}"] = round(float(np.nanmean(values)), 3)
        curve = per_horizon[name] / count
        summary[f"psnr_by_step_{name}"] = [round(float(v), 2) for v in curve]
    return summary


def closed_loop(env, simulator, scenes=TARGET_TASKS, seeds=range(10_000, 10_003), max_chunks: int = 16) -> dict:
    """Policy mode on held-out seeds: PhysGen proposes each chunk, the simulator runs it, PhysGen
    observes the real frame. Returns the success rate per scene and overall, and the mean control
    steps of the successful episodes."""
    summary: dict = {"max_chunks": max_chunks, "seeds": list(seeds)}
    successes, steps_to_success = [], []
    for scene in scenes:
        wins = []
        for seed in seeds:
            if seed < 10_000:
                raise InputError(f"closed-loop evaluation uses held-out seeds >= 10000; got {seed}")
            env.reset(frame=simulator.reset(scene, seed).frame, seed=seed)
            success = False
            for k in range(1, max_chunks + 1):
                proposal = env.act()
                observation = simulator.step(proposal.actions).observation
                env.observe(observation.frame, proposal.actions)
                if observation.success:
                    success = True
                    steps_to_success.append(k * env.chunk)
                    break
            wins.append(success)
        summary[f"success_{scene}"] = round(float(np.mean(wins)), 3)
        successes += wins
    summary["success_rate"] = round(float(np.mean(successes)), 3)
    summary["steps_to_success"] = round(float(np.mean(steps_to_success)), 1) if steps_to_success else None
    return summary
