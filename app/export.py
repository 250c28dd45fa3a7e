"""Export the episode (side-by-side mp4 + actions JSON) and load an actions file back."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from app.callbacks import StudioView, chunk_length, load_scene, message_view
from app.session import StudioSession
from physgen.episode_io import ActionRecord, read_action_file, write_side_by_side_video
from physgen.errors import InputError


def export_episode(session: StudioSession | None):
    """Write this session's episode. Returns (mp4 path or None, actions JSON path or None, status)."""
    if session is None or session.scene is None or not session.actions:
        return None, None, "⚠️ Nothing to export yet: load a scene and run some actions first."
    folder = Path(tempfile.mkdtemp(prefix="physgen-export-"))
    stem = f"{session.scene}_seed{session.seed}_{len(session.actions)}chunks"
    record = ActionRecord(session.scene, session.seed, np.concatenate(session.actions), tuple(session.texts), chunk_length(session))
    json_path = folder / f"{stem}.json"
    json_path.write_text(record.to_json())
    video_path = None
    n = min(len(session.real), len(session.predicted))
    if n >= 1:
        video_path = write_side_by_side_video(folder / f"{stem}.mp4", session.real[:n], session.predicted[:n])
        note = f"{n} frames (one per chunk): simulator left, PhysGen right."
    else:
        note = "No video: the simulator or the model is unavailable, so there is no side-by-side."
    return (str(video_path) if video_path else None), str(json_path), f"Exported {len(record.actions)} control steps. {note}"


def load_action_file(session: StudioSession | None, file):
    """Load an exported actions file: reset to its scene and seed and put its commands in the box.

    Returns the studio view + (seed, scene, actions text)."""
    if file is None:
        return (*message_view(session, "Choose an actions .json file first."), gr.update(), gr.update(), gr.update())
    path = getattr(file, "name", file)
    try:
        record = read_action_file(path)
    except (InputError, OSError) as exc:
        return (*message_view(session, f"could not load {Path(str(path)).name}: {exc}"), gr.update(), gr.update(), gr.update())
    *out, seed = load_scene(session, record.scene, record.seed)
    shown = StudioView(*out)
    note = f"Loaded {len(record.actions)} control steps from {Path(str(path)).name} into the actions box; press Run to replay them."
    return (*shown._replace(status=f"{shown.status} {note}"), seed, record.scene, record.program_text())
