"""Callbacks: plain functions of (session, inputs) -> outputs, testable without a browser.

They never raise to Gradio: every user error becomes an inline message and the session is kept.
"""

from __future__ import annotations

import random

from app.rendering import blank, upscale
from app.session import StudioSession
from physgen.action_text import parse_actions
from physgen.errors import InputError, SimulatorUnavailable
from physgen.scenes import SCENES, get_scene
from physgen.sim import Simulator, validate_seed

NO_PREDICTION_NOTE = (
    "**Prediction is not available yet.** The PhysGen world model is still being trained; this page "
    "runs the real ManiSkill simulator only. Nothing on it is a model prediction."
)


def scene_choices() -> list[tuple[str, str]]:
    return [(f"{spec.title} ({env_id})", env_id) for env_id, spec in SCENES.items()]


def load_scene(session: StudioSession | None, scene: str, seed, random_seed: bool = False):
    """Reset the session's simulator to (scene, seed). Returns (session, image, status, seed)."""
    session = session or StudioSession()
    try:
        spec = get_scene(scene)
        seed = random.randint(0, 9_999) if random_seed else validate_seed(seed)
    except InputError as exc:
        return session, _current_image(session), f"⚠️ {exc}", seed
    if session.sim is None:
        session.sim = Simulator()
    try:
        obs = session.sim.reset(spec.env_id, seed)
    except SimulatorUnavailable as exc:
        session.sim_error = str(exc)
        return session, blank(), f"⚠️ The simulator cannot start on this machine. {exc}", seed
    session.scene, session.seed = spec.env_id, seed
    session.frames = [obs.frame]
    status = f"Loaded **{spec.title}** (`{spec.env_id}`, seed {seed}). {spec.description}"
    return session, upscale(obs.frame), status, seed


def preview_actions(text: str, chunk_len: int = 8):
    """Parse typed actions. Returns (table rows, message); a parse error is the message."""
    try:
        program = parse_actions(text, chunk_len=chunk_len)
    except InputError as exc:
        return [], f"⚠️ {exc}"
    steps = len(program.actions)
    return program.preview(), f"{len(program.commands)} command(s), {steps} control steps, {len(program.chunks())} chunk(s)."


def run_actions(session: StudioSession | None, text: str, chunk_len: int = 8):
    """Parse and execute typed actions in the simulator. Returns (session, image, status, rows)."""
    if session is None or session.sim is None or session.scene is None:
        return session, blank(), "⚠️ Load a scene first.", []
    try:
        program = parse_actions(text, chunk_len=chunk_len)
    except InputError as exc:
        return session, _current_image(session), f"⚠️ {exc}", []
    try:
        result = session.sim.step(program.actions)
    except InputError as exc:
        return session, _current_image(session), f"⚠️ {exc}", program.preview()
    session.frames.extend(result.frames)
    obs = result.observation
    x, y, z = obs.ee_pose[:3]
    gripper = "closed" if program.actions[-1, 6] < 0 else "open"
    visible = ", ".join(f"{k} {'visible' if v else 'hidden'}" for k, v in obs.object_visible.items())
    status = (
        f"Executed {len(program.actions)} control steps (total {obs.elapsed_steps}). "
        f"Gripper at x={x:.3f}, y={y:.3f}, z={z:.3f} m, {gripper}. {visible}. "
        f"Success: {'yes' if obs.success else 'no'}."
    )
    return session, upscale(obs.frame), status, program.preview()


def close_session(session: StudioSession | None) -> None:
    if session is not None:
        session.close()


def _current_image(session: StudioSession):
    return upscale(session.frames[-1]) if session.frames else blank()

