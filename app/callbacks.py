"""Callbacks of the studio tab: plain functions of (session, inputs) -> outputs, testable without a browser.

They never raise to Gradio: every user error becomes an inline message and the session is kept.
Most return the same view: (session, simulator image, predicted image, status, divergence plot,
trajectory plot, scrubber).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np

from app.env_pool import shared_pool
from app.gpu import gpu
from app.idle import idle_simulators
from app.model_store import shared_model
from app.overlay import draw_targets
from app.plots import divergence_figure, trajectory_figure
from app.rendering import DISPLAY_SIZE, blank, upscale
from app.session import StudioSession, one_at_a_time
from physgen import EVAL_SEED_START
from physgen.actions.language import DRIVE_STEP_M, drive_chunk, move_command, parse_actions
from physgen.actions.presets import preset_text
from physgen.actions.space import (
    DEFAULT_CHUNK_LEN,
    GRIPPER_CLOSED,
    GRIPPER_OPEN,
    commanded_path,
    pad_to_chunks,
    pixel_to_table,
    stroke_to_table,
    world_to_pixel,
)
from physgen.data.episode_io import side_by_side
from physgen.errors import InputError, SimulatorUnavailable
from physgen.eval.metrics import frame_metrics
from physgen.sim.scenes import SCENES, get_scene
from physgen.sim.simulator import Simulator, validate_seed

FIRST_FRAMES = Path(__file__).resolve().parents[1] / "assets" / "first_frames"
NO_PREDICTION_NOTE = (
    "**Prediction is not available.** No PhysGen checkpoint could be loaded, so this page runs the "
    "real ManiSkill simulator only. Nothing on it is a model prediction."
)
PREDICTION_NOTE = (
    "Left: the robot's real execution in ManiSkill. Right: what PhysGen imagines for the same actions, "
    "one frame per chunk of {chunk} actions, starting from the same real first frame and never seeing a real frame "
    "again (except in policy mode, where it watches the simulator)."
)
NO_SIMULATOR_NOTE = (
    "⚠️ **The simulator cannot start on this machine**, so only PhysGen's predictions are shown, "
    "starting from a stored first frame of each scene (seed 0)."
)
HEIGHT_RANGE_CM = (1.0, 30.0)


def prediction_banner() -> str:
    model, _, reason = shared_model()
    return PREDICTION_NOTE.format(chunk=model.config.chunk) if reason is None else f"{NO_PREDICTION_NOTE} ({reason})"


def chunk_length(session: StudioSession | None = None) -> int:
    """Control steps per chunk: the session's world model's, else the loaded checkpoint's (a checkpoint
    may use another length than the default), else the default when no checkpoint loads."""
    if session is not None and session.world is not None:
        return session.world.chunk
    model, _, _ = shared_model()
    return model.config.chunk if model is not None else DEFAULT_CHUNK_LEN


def scene_choices() -> list[tuple[str, str]]:
    return [(f"{spec.title} ({env_id})", env_id) for env_id, spec in SCENES.items()]


# ----------------------------------------------------------------------------------------- view
class StudioView(NamedTuple):
    """The studio's standard outputs, in the order the page wires them (app/layout.py)."""

    session: StudioSession
    simulator_frame: np.ndarray
    predicted_frame: np.ndarray
    branch_frame: Any  # gr.Image update: branch A (simulator | PhysGen) after a fork, hidden before
    status: str
    divergence: Any  # plotly figure
    trajectory: Any  # plotly figure
    scrubber: Any  # gr.Slider update


def view(session: StudioSession, status: str, chunk: int | None = None, plots: bool = True) -> StudioView:
    """The studio's standard outputs for `session`, showing chunk `chunk` (default: the last).

    plots=False leaves both plots as they are on the page (gr.skip()): for the update that shows
    PhysGen's frame before the simulator's, when neither plot has changed yet. A plotly figure
    costs about 30 ms to build."""
    last = session.num_chunks
    chunk = _clip_chunk(session, chunk)
    targets = [t for _, t in session.targets]
    if session.dropped:
        kept = max(len(session.real), len(session.predicted))
        status = f"{status} (The oldest {session.dropped} chunks were dropped: a session keeps its last {kept} chunk boundaries.)"
    other = session.other
    return StudioView(
        session,
        sim_image(session, chunk),
        predicted_image(session, chunk),
        branch_image(session, chunk),
        status,
        divergence_figure(session.divergence, other.divergence if other else None, other.fork_chunk if other else None) if plots else gr.skip(),
        trajectory_figure(session.commanded, session.executed, targets) if plots else gr.skip(),
        gr.Slider(minimum=session.dropped, maximum=max(last, session.dropped + 1), value=chunk, step=1, interactive=last > session.dropped),
    )


def _clip_chunk(session: StudioSession, chunk) -> int:
    last = session.num_chunks
    return last if chunk is None else int(np.clip(chunk, session.dropped, max(last, session.dropped)))


def _at(session: StudioSession, frames: list[np.ndarray], chunk: int):
    index = session.index(chunk)
    return frames[min(index, len(frames) - 1)] if frames and index >= 0 else None


def branch_image(session: StudioSession, chunk: int | None = None):
    """Branch A at `chunk` (its last frame when it is shorter), simulator | PhysGen; hidden without a fork."""
    other = session.other
    if other is None:
        return gr.Image(value=None, visible=False)
    chunk = _clip_chunk(session, chunk) if chunk is not None else session.num_chunks
    real, predicted = other.frame(other.real, chunk), other.frame(other.predicted, chunk)
    if real is None and predicted is None:
        return gr.Image(value=None, visible=False)
    panels = [upscale(f, DISPLAY_SIZE // 2) for f in (real, predicted) if f is not None]
    return gr.Image(value=side_by_side(*panels) if len(panels) == 2 else panels[0], visible=True)


def sim_image(session: StudioSession, chunk: int | None = None) -> np.ndarray:
    """The simulator's frame at `chunk` (default: the last), with the clicked targets on the last one."""
    chunk = _clip_chunk(session, chunk)
    real = _at(session, session.real, chunk)
    if real is None:
        return blank()
    image = upscale(real)
    if chunk == session.num_chunks and session.targets:
        image = draw_targets(image, [p for p, _ in session.targets], DISPLAY_SIZE / real.shape[0])
    return image


def predicted_image(session: StudioSession, chunk: int | None = None) -> np.ndarray:
    predicted = _at(session, session.predicted, _clip_chunk(session, chunk))
    return upscale(predicted) if predicted is not None else blank()


def message_view(session: StudioSession | None, text: str):
    return view(session or StudioSession(), f"⚠️ {text}")


# ----------------------------------------------------------------------------------------- scene
@one_at_a_time
def load_scene(session: StudioSession | None, scene: str, seed, random_seed: bool = False):
    """Reset the session's simulator and world model to (scene, seed). Returns view + (seed,)."""
    session = session or StudioSession()
    try:
        spec = get_scene(scene)
        seed = random.randint(0, EVAL_SEED_START - 1) if random_seed else validate_seed(seed)
    except InputError as exc:
        return (*message_view(session, str(exc)), seed)
    first, notes = None, []
    if session.sim_error is None:
        try:
            pool = shared_pool(Simulator, chunk_length())
            if session.sim is not None and session.sim.scene is not None and session.sim.scene.env_id != spec.env_id:
                pool.release(session.sim)  # another scene: take a ready env of the new one instead
                session.sim = None
            session.sim = session.sim or pool.acquire(spec.env_id)
            idle_simulators().watch(session)
            obs = session.sim.reset(spec.env_id, seed)
            first = obs.frame
        except SimulatorUnavailable as exc:
            session.close()
            session.sim_error = str(exc)
    if first is None:
        stored = FIRST_FRAMES / f"{spec.env_id}.png"
        if not stored.exists():
            missing = f"The simulator cannot start here and no stored frame exists for {spec.env_id}. {session.sim_error}"
            return (*message_view(session, missing), seed)
        import mediapy

        first, seed = mediapy.read_image(stored)[..., :3], 0
        notes.append(f"{NO_SIMULATOR_NOTE} ({session.sim_error})")
    session.scene, session.seed = spec.env_id, seed
    session.clear_episode()
    if session.sim is not None:
        session.real = [first]
        session.executed = [session.sim.ee_position]
        session.commanded = [session.sim.ee_position]
    model, tokenizer, _ = shared_model()
    if model is not None:
        from physgen.model.world_env import WorldModelEnv

        session.world = session.world or WorldModelEnv(model, tokenizer, sample_steps=model.config.sample_steps)
        session.predicted = [_reset_world(session.world, first, seed)]
    session.save_boundary()
    status = " ".join([f"Loaded **{spec.title}** (`{spec.env_id}`, seed {seed}). {spec.description}", *notes])
    return (*view(session, status), seed)


@gpu
def _reset_world(world, frame: np.ndarray, seed: int) -> np.ndarray:
    return world.reset(frame=frame, seed=seed).frame


@gpu
def _step_world(world, chunk: np.ndarray):
    return world.step(chunk)


def step_envs(session: StudioSession, chunk: np.ndarray):
    """Step every env of the session with one chunk (L, 7), recording each result; yields (env,
    seconds it took) after its frame is in, so the page can show PhysGen's frame before the
    simulator's. Then the boundary's states are saved (for forking) and the cap applied."""
    for env in session.envs:
        start = time.perf_counter()
        if env is session.world:
            session.predicted.append(_step_world(env, chunk).frame)
        else:
            record_real(session, env.step(chunk))
        yield env, time.perf_counter() - start
    session.actions.append(chunk)
    session.save_boundary()


# ----------------------------------------------------------------------------------------- typed actions
def preview_actions(text: str, session: StudioSession | None = None):
    """Parse typed actions as the next Run would (from the session's held gripper). Returns (table
    rows, message); a parse error is the message."""
    try:
        program = parse_actions(text, chunk_len=chunk_length(session), gripper=session.gripper if session else GRIPPER_OPEN)
    except InputError as exc:
        return [], f"⚠️ {exc}"
    steps = len(program.actions)
    return program.preview(), f"{len(program.commands)} command(s), {steps} control steps, {len(program.chunks())} chunk(s)."


@one_at_a_time
def run_actions(session: StudioSession | None, text: str):
    """Execute typed actions chunk by chunk in the world model and the simulator, streaming each.

    Yields the view twice per chunk: first with PhysGen's predicted frame (it is fast), then with the
    simulator's frame and the divergence."""
    if session is None or session.scene is None:
        yield message_view(session, "Load a scene first.")
        return
    chunk_len = chunk_length(session)
    try:
        program = parse_actions(text, chunk_len=chunk_len, gripper=session.gripper)  # a program goes on with the gripper as it is
    except InputError as exc:
        yield message_view(session, str(exc))
        return
    if session.world is None and session.sim is None:
        yield message_view(session, "Neither the simulator nor a PhysGen checkpoint is available on this machine.")
        return
    actions, pad = pad_to_chunks(program.actions, chunk_len)
    session.add_program(text, actions, pad)
    session.targets.clear()
    if session.sim is not None:
        session.commanded.extend(commanded_path(session.executed[-1], actions)[1:])
    chunks = actions.reshape(-1, chunk_len, actions.shape[1])
    for i, chunk in enumerate(chunks, start=1):
        progress = f"Chunk {i}/{len(chunks)}"
        for env, _ in step_envs(session, chunk):
            if env is session.world and session.sim is not None:
                yield view(session, f"{progress}: PhysGen has imagined this chunk; the simulator is executing it…", plots=False)
        if i < len(chunks):  # the last chunk's frame comes with the summary: one view (3 images, 2 plots) less to send
            yield view(session, f"{progress} done.")
    yield view(session, _summary(session, len(actions), pad, chunk_len))


def record_real(session: StudioSession, result) -> None:
    session.real.append(result.frame)
    session.executed.extend(np.asarray(result.ee_poses)[:, :3].astype(np.float64))
    session.success = result.observation.success
    index = len(session.real) - 1
    if session.world is not None and index < len(session.predicted):
        m = frame_metrics(session.predicted[index], result.frame, session.real[0], result.observation.object_mask)
        session.divergence.append({"chunk": session.dropped + index, "psnr": m["psnr"], "ssim": m["ssim"]})


def _summary(session: StudioSession, steps: int, pad: int, chunk_len: int) -> str:
    parts = [f"Executed {steps} control steps ({steps // chunk_len} chunks; {pad} hold steps completed the last chunk)." if pad
             else f"Executed {steps} control steps."]
    if session.sim is not None:
        obs_xyz = session.executed[-1]
        parts.append(f"Total {session.num_chunks * chunk_len} steps. Gripper at x={obs_xyz[0]:.3f}, y={obs_xyz[1]:.3f}, z={obs_xyz[2]:.3f} m.")
        parts.append(f"Success: {'yes' if session.success else 'no'}.")
    else:
        parts.append("Simulator unavailable: prediction only.")
    if session.divergence:
        d = session.divergence[-1]
        parts.append(f"Prediction vs simulator at chunk {d['chunk']}: PSNR {d['psnr']:.1f} dB, SSIM {d['ssim']:.3f}.")
    return " ".join(parts)


@one_at_a_time
def scrub(session: StudioSession | None, chunk):
    """Show the frames at a chunk boundary. Returns (sim image, predicted image, branch A image, status)."""
    return _scrub(session, chunk)


def _scrub(session: StudioSession | None, chunk):
    if session is None or session.scene is None:
        return blank(), blank(), gr.Image(value=None, visible=False), "⚠️ Load a scene first."
    shown = _clip_chunk(session, chunk)
    d = next((d for d in session.divergence if d["chunk"] == shown), None)
    extra = f": PSNR {d['psnr']:.1f} dB, SSIM {d['ssim']:.3f}" if d else ""
    status = f"Showing chunk {shown} of {session.num_chunks}{extra}. **Fork here** starts a second plan from it."
    return sim_image(session, shown), predicted_image(session, shown), branch_image(session, shown), status


@one_at_a_time
def scrub_probe(session: StudioSession | None, chunk):
    """The permanence tab's scrubber (no fork there). Returns (sim image, predicted image, status)."""
    real, predicted, _, status = _scrub(session, chunk)
    return real, predicted, status


# ----------------------------------------------------------------------------------------- fork
@gpu
def _restore_world(world, state) -> None:
    world.set_state(state)


@one_at_a_time
def fork_here(session: StudioSession | None, chunk):
    """Fork at a chunk of the scrubber: the episode so far becomes branch A, the simulator restores
    its state saved at that chunk and PhysGen restarts from its history there. The next plan (typed,
    clicked, dragged or driven) makes branch B; both then play side by side. Returns the studio view."""
    if session is None or session.scene is None or not session.states:
        return message_view(session, "Load a scene and run some actions first, then fork at a chunk of the scrubber.")
    first, last = session.dropped, session.num_chunks
    try:
        if isinstance(chunk, bool) or float(chunk) != int(float(chunk)):
            raise ValueError
        c = int(float(chunk))
    except (TypeError, ValueError):
        return message_view(session, f"the chunk to fork at must be an integer from {first} to {last}; got {chunk!r}")
    if not first <= c <= last:
        return message_view(session, f"there is no chunk {c} to fork at: this episode holds chunks {first} to {last}")
    sim_state, world_state = session.states[session.index(c)]
    session.fork(c)
    if session.sim is not None and sim_state is not None:
        session.sim.set_state(sim_state)
        session.success = False
    if session.world is not None and world_state is not None:
        _restore_world(session.world, world_state)
    a = session.other
    return view(session, f"Forked at chunk {c}. Branch A (its {a.dropped + len(a.real or a.predicted) - 1 - c} later chunks) is kept and "
                "shown below; now give a second plan (type, click, drag or drive): both branches play side by side.")


# ----------------------------------------------------------------------------------------- drive
# Keys of the drive mode (KeyboardEvent.key, lower case) -> a drive direction (physgen.actions.language),
# as seen in the studio camera, which looks along -x: screen up is -x ("back"), screen right is +y.
DRIVE_KEYS = {
    "w": "back", "arrowup": "back", "s": "forward", "arrowdown": "forward",
    "a": "left", "arrowleft": "left", "d": "right", "arrowright": "right",
    "q": "up", "e": "down", " ": "grip", "space": "grip",
}


@one_at_a_time
def drive(session: StudioSession | None, key: str):
    """One drive key press (or pad button): one chunk in PhysGen and the simulator, added to the episode.

    `key` is a key name (DRIVE_KEYS), optionally with the press time in ms since the epoch, "d@1732670000000"
    (the page sends it, for the latency readout). Returns the studio view + (latency readout,)."""
    start = time.perf_counter()
    if session is None or session.scene is None:
        return (*message_view(session, "Load a scene first, then drive."), "")
    name, _, pressed = str(key or "").partition("@")
    name = name.strip().lower() if name.strip() else name
    if name not in DRIVE_KEYS:
        accepted = "W A S D, the arrow keys, Q (up), E (down), Space (gripper)"
        return (*message_view(session, f"unknown drive key {key!r}; accepted: {accepted}"), gr.update())
    if session.world is None and session.sim is None:
        return (*message_view(session, "Neither the simulator nor a PhysGen checkpoint is available on this machine."), "")
    direction = DRIVE_KEYS[name]
    if direction == "grip":
        session.gripper = GRIPPER_CLOSED if session.gripper > 0 else GRIPPER_OPEN
        direction, command = "stay", "open" if session.gripper > 0 else "close"
    else:
        command = f"{direction} {DRIVE_STEP_M * 100:g}cm"
    chunk = drive_chunk(direction, session.gripper, chunk_length(session))
    session.add_program(command, chunk)
    session.targets.clear()
    if session.sim is not None:
        session.commanded.extend(commanded_path(session.executed[-1], chunk)[1:])
    timings = {("model" if env is session.world else "simulator"): seconds for env, seconds in step_envs(session, chunk)}
    return (*view(session, f"Drive: `{command}` → chunk {session.num_chunks}. " + _summary(session, len(chunk), 0, len(chunk))),
            latency_text(timings, start, pressed))


def latency_text(timings: dict[str, float], start: float, pressed_ms: str = "") -> str:
    """The drive latency readout: model ms, simulator ms and the total from the key press."""
    parts = [f"model **{timings['model'] * 1000:.0f} ms**" if "model" in timings else "model: none",
             f"simulator **{timings['simulator'] * 1000:.0f} ms**" if "simulator" in timings else "simulator: none"]
    total, since = (time.perf_counter() - start) * 1000, "request"
    try:
        waited = time.time() * 1000 - float(pressed_ms)
        if 0 <= waited < 600_000:  # a press time from this machine's clock (the page's), else ignore it
            total, since = waited, "key press"
    except ValueError:
        pass
    return f"Latency of the last chunk: {' · '.join(parts)} · total **{total:.0f} ms** from {since} to both frames"


# ----------------------------------------------------------------------------------------- clicks and presets
@one_at_a_time
def click_target(session: StudioSession | None, text: str, height_cm, evt: gr.SelectData):
    """A click on the simulator image adds a 'move' to the clicked table point at the chosen height.

    Returns (session, simulator image, actions text, status)."""
    return _click(session, text, height_cm, evt.index)


def _click(session, text, height_cm, display_xy):
    if session is None or session.sim is None or not session.real:
        return session, blank(), text, "⚠️ Load a scene first (clicking needs the simulator's camera)."
    try:
        height = _height_m(height_cm)
        camera, size = session.sim.camera, int(session.sim.camera["image_size"][0])
        pixel = np.asarray(display_xy, dtype=np.float64) / (DISPLAY_SIZE / size)
        table = pixel_to_table(pixel, camera["intrinsic"], camera["extrinsic_cv"], (size, size))
        planned = session.executed[-1] + _planned_offset(session, text)
        target = np.array([table[0], table[1], height])
    except (InputError, TypeError, ValueError) as exc:
        return session, sim_image(session), text, f"⚠️ {exc}"
    session.targets.append((pixel, target))
    command = move_command(target - planned)
    new_text = append_command(text, command)
    status = f"Target {len(session.targets)}: table point x={target[0]:.3f}, y={target[1]:.3f} m at {height * 100:g} cm → added `{command}`."
    return session, sim_image(session), new_text, status


def _height_m(height_cm) -> float:
    height = float(height_cm)
    if not HEIGHT_RANGE_CM[0] <= height <= HEIGHT_RANGE_CM[1]:
        raise InputError(f"height must be between {HEIGHT_RANGE_CM[0]:g} and {HEIGHT_RANGE_CM[1]:g} cm; got {height:g}")
    return height / 100


@one_at_a_time
def draw_stroke(session: StudioSession | None, text: str, height_cm, stroke: str):
    """A stroke dragged on the simulator image becomes `move` commands along a path of table targets
    at the chosen height. `stroke` is JSON [[x, y], ...] in display pixels (the page's pointer
    handler writes it). Returns (session, simulator image, actions text, status)."""
    if session is None or session.sim is None or not session.real:
        return session, blank(), text, "⚠️ Load a scene first (dragging needs the simulator's camera)."
    try:
        try:
            points = json.loads(stroke) if isinstance(stroke, str) and stroke.strip() else []
        except json.JSONDecodeError:
            raise InputError("a stroke must be JSON: a list of [x, y] pixel points, e.g. [[100, 300], [200, 310]]") from None
        height = _height_m(height_cm)
        camera, size = session.sim.camera, int(session.sim.camera["image_size"][0])
        scale = DISPLAY_SIZE / size
        path, cut = stroke_to_table(np.asarray(points, dtype=np.float64) / scale if len(points) else [], camera["intrinsic"],
                                    camera["extrinsic_cv"], (size, size))
        planned = session.executed[-1] + _planned_offset(session, text)
    except (InputError, TypeError, ValueError) as exc:
        return session, sim_image(session), text, f"⚠️ {exc}"
    commands = []
    for xy in path:
        target = np.array([xy[0], xy[1], height])
        pixel = world_to_pixel(target * [1, 1, 0], camera["intrinsic"], camera["extrinsic_cv"])
        session.targets.append((pixel, target))
        commands.append(move_command(target - planned))
        planned = target
    new_text = "\n".join([text.rstrip(), *commands]) if text and text.strip() else "\n".join(commands)
    status = f"Stroke: {len(path)} targets along {len(points)} points at {height * 100:g} cm → added {len(commands)} `move` commands."
    if cut:
        status += " ⚠️ The stroke left the reachable table, so it was cut at the edge."
    return session, sim_image(session), new_text, status


def _planned_offset(session: StudioSession, text: str) -> np.ndarray:
    """Net displacement (m) of the commands already in the box, so a click continues from their end."""
    if not text.strip():
        return np.zeros(3)
    try:
        program = parse_actions(text, chunk_len=chunk_length(session))
    except InputError as exc:
        raise InputError(f"fix the actions text before adding clicked targets: {exc}") from None
    return commanded_path(np.zeros(3), program.actions)[-1]


@one_at_a_time
def clear_targets(session: StudioSession | None):
    """Forget clicked targets and empty the actions box. Returns (session, simulator image, text, status)."""
    if session is None:
        return session, blank(), "", "Cleared."
    session.targets.clear()
    return session, sim_image(session), "", "Cleared the actions and the clicked targets."


@one_at_a_time
def apply_preset(session: StudioSession | None, name: str):
    """Fill the actions box with a preset move from the gripper's current position. Returns (text, status)."""
    if session is None or session.sim is None or session.scene is None:
        return gr.update(), "⚠️ Load a scene first (presets aim at the scene's objects)."
    try:
        text = preset_text(name, session.sim.ee_position, session.sim.object_positions)
    except InputError as exc:
        return gr.update(), f"⚠️ {exc}"
    return text, f"Preset **{name}** written to the actions box; press Run to execute it."


def append_command(text: str, command: str) -> str:
    return (text.rstrip() + "\n" if text and text.strip() else "") + command


def close_session(session: StudioSession | None) -> None:
    """gr.State's delete callback (the tab closed, or the session outlived app.layout.SESSION_TTL_S):
    the simulator goes back to the pool (a parked one is there already)."""
    if session is not None and session.sim is not None:
        shared_pool(type(session.sim), session.sim.chunk).release(session.sim)
        session.sim = None
    if session is not None:
        session.parked = None
