"""Open-loop evaluation against the simulator on held-out seeds (>= EVAL_SEED_START).

For each held-out expert episode (or, with actions="play", each held-out seed driven by random play
chunks, physgen.data.play) the simulator and the world model start from the same real frame and receive
the same actions (expert ones padded with holds to the horizon); the model never sees a real frame
again. Play tests what expert actions cannot: whether the model follows commands it could not
have guessed from the frames. Every chunk's predicted frame is compared with the simulator's frame:
whole-frame PSNR and SSIM, PSNR on the changed pixels only (where the real frame differs from the
first one: the static background dominates whole-frame PSNR), and on the object pixels (from
segmentation). Baselines: copying the last real frame, and the VAE's own reconstruction (a ceiling).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from physgen import EVAL_SEED_START
from physgen.actions.space import ACTION_DIM
from physgen.data.episodes import find_demo_episodes
from physgen.errors import InputError
from physgen.eval.metrics import frame_metrics
from physgen.sim.scenes import TARGET_TASKS


def episode_rollout(env, simulator, episode, horizon: int = 16):
    """One held-out demo, open loop: (first real observation, real frames (horizon, H, W, 3) after
    each chunk, their object masks, PhysGen's predicted frames for the same expert actions)."""
    import h5py

    with h5py.File(episode.path, "r") as f:
        actions = f[episode.key]["actions"][:]
    chunk = env.chunk
    total = horizon * chunk
    acts = np.zeros((total, ACTION_DIM), np.float32)
    n = min(total, len(actions))
    acts[:n] = actions[:n]
    acts[n:, 6] = actions[n - 1, 6]  # after the demo: hold still
    first = simulator.reset(episode.scene, episode.seed)
    real = simulator.step(acts)  # both envs return one frame per chunk (physgen.env)
    env.reset(frame=first.frame, seed=episode.seed)
    pred = env.step(acts).frames
    return first, real.frames, real.object_masks, pred


def play_rollout(env, simulator, scene: str, seed: int, horizon: int = 16):
    """episode_rollout's outputs for a held-out seed driven by random play chunks, chosen on the
    simulator's state chunk by chunk as `physgen play` chooses them."""
    from physgen.data.play import initial_gripper, play_chunk

    rng = np.random.default_rng(seed)
    first = simulator.reset(scene, seed)
    gripper = initial_gripper(rng)
    frames, masks, actions = [], [], []
    for _ in range(horizon):
        chunk, gripper = play_chunk(rng, simulator.ee_position, list(simulator.object_positions.values()), gripper, env.chunk)
        result = simulator.step(chunk)
        frames.append(result.frames[-1])
        masks.append(result.object_masks[-1])
        actions.append(chunk)
    env.reset(frame=first.frame, seed=seed)
    pred = env.step(np.concatenate(actions)).frames
    return first, np.stack(frames), np.stack(masks), pred


def ensure_held_out_demos(eval_root, scenes=TARGET_TASKS, per_scene: int = 10) -> None:
    """Make the held-out demos (seeds >= EVAL_SEED_START) that eval_root lacks, with a progress bar."""
    from physgen.data.demos import generate_demos

    have = {}
    for e in find_demo_episodes(eval_root, list(scenes)) if Path(eval_root).exists() else []:
        have[e.scene] = have.get(e.scene, 0) + (e.seed >= EVAL_SEED_START)
    for scene in scenes:
        if have.get(scene, 0) < per_scene:
            print(f"making held-out demos of {scene} in {eval_root} ({have.get(scene, 0)} of {per_scene} there)", flush=True)
            generate_demos(scene, per_scene, eval_root, seed_start=EVAL_SEED_START, shard_size=per_scene, evaluation=True)


def held_out_episodes(eval_root, scenes=TARGET_TASKS, per_scene: int = 3) -> dict[str, list]:
    episodes = [e for e in find_demo_episodes(eval_root, list(scenes)) if e.seed >= EVAL_SEED_START]
    if not episodes:
        raise InputError(f"no held-out demos under {eval_root}; run `physgen demos --eval --scene ... --num N --out {eval_root}`")
    chosen: dict[str, list] = {}
    for ep in episodes:
        if len(chosen.setdefault(ep.scene, [])) < per_scene:
            chosen[ep.scene].append(ep)
    return chosen


def open_loop(env, simulator, eval_root, scenes=TARGET_TASKS, episodes_per_scene: int = 3, horizon: int = 16,
              actions: str = "demos") -> dict:
    """Mean metrics of the world model and the baselines over held-out episodes: the expert demos
    under eval_root (actions="demos"), or held-out seeds driven by play chunks (actions="play").

    env is a physgen.model.world_env.WorldModelEnv; simulator a physgen.sim.simulator.Simulator.
    """
    import torch

    if actions not in ("demos", "play"):
        raise InputError(f"actions must be 'demos' or 'play'; got {actions!r}")
    if actions == "play":
        seeds = range(EVAL_SEED_START, EVAL_SEED_START + episodes_per_scene)
        chosen = {scene: [(scene, seed) for seed in seeds] for scene in scenes}
    else:
        chosen = held_out_episodes(eval_root, scenes, episodes_per_scene)
    rows = {name: [] for name in ("model", "copy_last", "vae")}
    per_horizon = {name: np.zeros(horizon) for name in rows}
    count = 0
    for scene, eps in chosen.items():
        for ep in eps:
            if actions == "play":
                first, real_frames, real_masks, pred = play_rollout(env, simulator, *ep, horizon)
            else:
                first, real_frames, real_masks, pred = episode_rollout(env, simulator, ep, horizon)
            tok = env.tokenizer
            with torch.no_grad():
                x = torch.from_numpy(real_frames).permute(0, 3, 1, 2)
                vae = tok.decode(tok.encode(x), env.fast_decode).permute(0, 2, 3, 1).numpy()
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
        summary[f"psnr_first_{name}"] = round(float(curve[0]), 3)
    return summary


def closed_loop(env, simulator, scenes=TARGET_TASKS, seeds=range(EVAL_SEED_START, EVAL_SEED_START + 3), max_chunks: int = 16) -> dict:
    """Policy mode on held-out seeds: PhysGen proposes each chunk, the simulator runs it, PhysGen
    observes the real frame. Returns the success rate per scene and overall, the mean control
    steps of the successful episodes, and for tasks that check grasping (PickCube, StackCube) the
    share of episodes whose cube was grasped at the end of some chunk."""
    from physgen.model.policy import WorldModelPolicy

    policy = WorldModelPolicy(env)
    summary: dict = {"max_chunks": max_chunks, "seeds": list(seeds)}
    successes, steps_to_success = [], []
    for scene in scenes:
        wins, grasps = [], []
        for seed in seeds:
            if seed < EVAL_SEED_START:
                raise InputError(f"closed-loop evaluation uses held-out seeds >= {EVAL_SEED_START}; got {seed}")
            observation = simulator.reset(scene, seed)
            env.reset(frame=observation.frame, seed=seed)
            policy.reset()
            success, grasped = False, observation.grasped
            for k in range(1, max_chunks + 1):
                observation = simulator.step(policy.select_chunk(observation)).observation
                grasped = grasped or observation.grasped  # None stays None for a task without the check
                if observation.success:
                    success = True
                    steps_to_success.append(k * env.chunk)
                    break
            wins.append(success)
            grasps.append(grasped)
        summary[f"success_{scene}"] = round(float(np.mean(wins)), 3)
        if all(g is not None for g in grasps):
            summary[f"grasped_{scene}"] = round(float(np.mean(grasps)), 3)
        successes += wins
    summary["success_rate"] = round(float(np.mean(successes)), 3)
    summary["steps_to_success"] = round(float(np.mean(steps_to_success)), 1) if steps_to_success else None
    return summary


def permanence(env, simulator, seeds) -> dict:
    """The probe over held-out seeds: mean presence of the cube after it reappears (PhysGen open
    loop, PhysGen one chunk ahead of the real frames, the tokenizer ceiling, ground truth) and how
    much of the wall PhysGen keeps in its worst frame."""
    from physgen.eval.permanence import after_reappearance, imagine, one_step, presence_scores, run_probe, wall_agreement

    rows = {"model": [], "one_step": [], "ceiling": [], "truth": [], "wall_min": [], "wall_min_ceiling": []}
    for seed in seeds:
        episode = run_probe(simulator, seed, env.chunk)
        if not len(episode.hidden_chunks):
            continue
        predicted, ceiling = imagine(env, episode)
        rows["model"].append(after_reappearance(episode, presence_scores(episode, predicted)))
        rows["one_step"].append(after_reappearance(episode, presence_scores(episode, one_step(env, episode))))
        rows["ceiling"].append(after_reappearance(episode, presence_scores(episode, ceiling)))
        rows["truth"].append(after_reappearance(episode, episode.ground_truth_presence))
        rows["wall_min"].append(float(np.nanmin(wall_agreement(episode, predicted))))
        rows["wall_min_ceiling"].append(float(np.nanmin(wall_agreement(episode, ceiling))))
    result = {"probe_seeds": len(rows["model"])}
    for name, values in rows.items():
        result[f"presence_after_{name}" if not name.startswith("wall") else name] = round(float(np.nanmean(values)), 3) if values else None
    return result


ACTION_SOURCES = ("recorded", "zero", "other_episode", "none")


def pack_open_loop(model, tokenizer, pack: str, horizon: int = 16, max_episodes: int = 64, seed: int = 0,
                   action_source: str = "recorded", episodes: str = "demos") -> dict:
    """Open-loop fidelity in token space on a token pack's val episodes, for machines without the
    simulator (the lent GPU): from each episode's first frame, the model imagines `horizon` chunks
    with the recorded actions, all episodes in one batched rollout. Frames are compared after
    decoding both the prediction and the true tokens, so the figures measure the dynamics alone (the
    tokenizer's own loss is excluded). Returns PSNR by horizon for the model and for copying the
    first frame, and their means.

    action_source tests whether the model follows its actions: "zero" commands no motion, and
    "other_episode" gives each episode the recorded chunks of another one. A model that follows
    its actions scores clearly lower with them than with "recorded". "none" tells the model no chunk
    (each step still records the recorded one): the action-free imagination the policy plans with,
    which on demonstrations should look like the expert's next frames.

    episodes picks the val episodes: "demos" (demonstrations, the probe's scripted pushes included:
    the set every figure before play data used), "play" (physgen.data.play) or "all"."""
    if action_source not in ACTION_SOURCES:
        raise InputError(f"action_source must be one of {ACTION_SOURCES}; got {action_source!r}")
    import torch

    from physgen.data.dataset import TokenPackWindows, WindowConfig
    from physgen.eval.metrics import psnr
    from physgen.model.rollout import Rollout

    data = TokenPackWindows(pack, WindowConfig(history=horizon + 1, chunk=model.config.chunk, lookahead=1, start_stride=1), "val", episodes)
    starts = [i for i, (_, t0) in enumerate(data.index) if t0 == 0][:max_episodes]
    if not starts:
        raise InputError(f"{pack} has no val episodes of the set {episodes!r}")
    device = next(model.parameters()).device
    items = [data[i] for i in starts]
    tokens = torch.stack([it["frames"] for it in items]).to(device)  # (B, h+1, K, D)
    valid = torch.stack([it["frame_valid"] for it in items]).numpy()  # (B, h+1)
    actions = torch.stack([it["actions"] for it in items]).to(device)  # (B, h+2, L, 7); [:, n] leads into frame n
    if action_source == "zero":
        actions = torch.zeros_like(actions)
    elif action_source == "other_episode":
        actions = actions.roll(1, dims=0)
    generator = torch.Generator(device=device).manual_seed(seed)
    rollout = Rollout(model)
    rollout.start(tokens[:, 0])
    preds = []
    for n in range(1, horizon + 1):
        pred = rollout.predict_frame(None if action_source == "none" else actions[:, n], generator=generator)  # (B, K, D)
        rollout.observe(pred, actions[:, n])
        preds.append(pred)
    predicted = torch.stack(preds, dim=1)  # (B, h, K, D)

    def decode(frames):  # (N, K, D) -> (N, H, W, 3) uint8
        return tokenizer.decode(tokenizer.from_tokens(frames)).permute(0, 2, 3, 1).cpu().numpy()

    model_curve, copy_curve, counts = np.zeros(horizon), np.zeros(horizon), np.zeros(horizon)
    for b in range(len(items)):
        real, pred_frames, first = decode(tokens[b, 1:]), decode(predicted[b]), decode(tokens[b, :1])[0]
        for n in range(horizon):
            if valid[b, n + 1]:
                model_curve[n] += psnr(pred_frames[n], real[n])
                copy_curve[n] += psnr(first, real[n])
                counts[n] += 1
    model_curve, copy_curve = model_curve / np.maximum(counts, 1), copy_curve / np.maximum(counts, 1)
    return {"episodes": len(starts), "horizon": horizon,
            "psnr_first": round(float(model_curve[0]), 2), "psnr_first_copy": round(float(copy_curve[0]), 2),
            "psnr_mean": round(float(model_curve[counts > 0].mean()), 2), "psnr_mean_copy": round(float(copy_curve[counts > 0].mean()), 2),
            "psnr_by_step": [round(float(v), 2) for v in model_curve], "psnr_by_step_copy": [round(float(v), 2) for v in copy_curve]}
