"""Callbacks: plain functions of (session, inputs) -> outputs, testable without a browser.

They never raise to Gradio: every user error becomes an inline message and the session is kept.
"""

from __future__ import annotations

import random

from app.model_store import shared_model
from app.rendering import blank, upscale
from app.session import StudioSession
from physgen.action_text import parse_actions
from physgen.errors import InputError, SimulatorUnavailable
from physgen.scenes import SCENES, get_scene
from physgen.sim import Simulator, validate_seed

NO_PREDICTION_NOTE = (
    "**Prediction is not available.** No PhysGen checkpoint could be loaded, so this page runs the "
    "real ManiSkill simulator only. Nothing on it is a model prediction."
)
PREDICTION_NOTE = (
    "Left: the robot's real execution in ManiSkill. Right: what PhysGen imagines for the same actions, "
    "one frame per chunk of 8 actions, starting from the same real first frame and never seeing a real frame again."
)


def prediction_banner() -> str:
    _, _, reason = shared_model()
    return PREDICTION_NOTE if reason is None else f"{NO_PREDICTION_NOTE} ({reason})"


def scene_choices() -> list[tuple[str, str]]:
    return [(f"{spec.title} ({env_id})", env_id) for env_id, spec in SCENES.items()]


def load_scene(session: StudioSession | None, scene: str, seed, random_seed: bool = False):
    """Reset the session's simulator and world model to (scene, seed).

    Returns (session, simulator image, predicted image, status, seed)."""
    session = session or StudioSession()
    try:
        spec = get_scene(scene)
        seed = random.randint(0, 9_999) if random_seed else validate_seed(seed)
    except InputError as exc:
        return session, _current_image(session), _current_prediction(session), f"⚠️ {exc}", seed
    if session.sim is None:
        session.sim = Simulator()
    try:
        obs = session.sim.reset(spec.env_id, seed)
    except SimulatorUnavailable as exc:
        session.sim_error = str(exc)
        return session, blank(), blank(), f"⚠️ The simulator cannot start on this machine. {exc}", seed
    session.scene, session.seed = spec.env_id, seed
    session.frames, session.predicted = [obs.frame], []
    model, tokenizer, _ = shared_model()
    if model is not None:
        from physgen.world_env import WorldModelEnv

        if session.world is None:
            session.world = WorldModelEnv(model, tokenizer, sample_steps=model.config.sample_steps)
        session.predicted = [session.world.reset(frame=obs.frame, seed=seed).frame]
    status = f"Loaded **{spec.title}** (`{spec.env_id}`, seed {seed}). {spec.description}"
    return session, upscale(obs.frame), _current_prediction(session), status, seed


def preview_actions(text: str, chunk_len: int = 8):
    """Parse typed actions. Returns (table rows, message); a parse error is the message."""
    try:
        program = parse_actions(text, chunk_len=chunk_len)
    except InputError as exc:
        return [], f"⚠️ {exc}"
    steps = len(program.actions)
    return program.preview(), f"{len(program.commands)} command(s), {steps} control steps, {len(program.chunks())} chunk(s)."


def run_actions(session: StudioSession | None, text: str, chunk_len: int = 8):
    """Execute typed actions in the simulator and the world model.

    Returns (session, simulator image, predicted image, status, rows)."""
    if session is None or session.sim is None or session.scene is None:
        return session, blank(), blank(), "⚠️ Load a scene first.", []
    try:
        program = parse_actions(text, chunk_len=chunk_len)
    except InputError as exc:
        return session, _current_image(session), _current_prediction(session), f"⚠️ {exc}", []
    try:
        result = session.sim.step(program.actions)
    except InputError as exc:
        return session, _current_image(session), _current_prediction(session), f"⚠️ {exc}", program.preview()
    session.frames.extend(result.frames)
    divergence = ""
    if session.world is not None:
        predicted = session.world.step(program.actions)
        session.predicted.extend(predicted.frames)
        from physgen.metrics import frame_metrics

        m = frame_metrics(predicted.frame, result.frame, session.frames[0], result.observation.object_mask)
        divergence = f" Prediction vs simulator: PSNR {m['psnr']:.1f} dB, SSIM {m['ssim']:.3f}."
    obs = result.observation
    x, y, z = obs.ee_pose[:3]
    gripper = "closed" if program.actions[-1, 6] < 0 else "open"
    visible = ", ".join(f"{k} {'visible' if v else 'hidden'}" for k, v in obs.object_visible.items())
    status = (
        f"Executed {len(program.actions)} control steps (total {obs.elapsed_steps}). "
        f"Gripper at x={x:.3f}, y={y:.3f}, z={z:.3f} m, {gripper}. {visible}. "
        f"Success: {'yes' if obs.success else 'no'}.{divergence}"
    )
    return session, upscale(obs.frame), _current_prediction(session), status, program.preview()


def close_session(session: StudioSession | None) -> None:
    if session is not None:
        session.close()


def _current_image(session: StudioSession):
    return upscale(session.frames[-1]) if session.frames else blank()


def _current_prediction(session: StudioSession):
    return upscale(session.predicted[-1]) if session.predicted else blank()

