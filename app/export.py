"""Export the episode (side-by-side mp4 + actions JSON) and load an actions file back."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from app.callbacks import StudioView, chunk_length, load_scene, message_view
from app.session import StudioSession, one_at_a_time
from physgen.data.episode_io import ActionRecord, read_action_file, write_side_by_side_video
from physgen.errors import InputError


@one_at_a_time
def export_episode(session: StudioSession | None):
    """Write this session's episode (after a fork: both branches). Returns (mp4 path or None, actions
    JSON path or None, branch A's files (list of paths) or None, status)."""
    if session is None or session.scene is None or not session.actions:
        return None, None, None, "⚠️ Nothing to export yet: load a scene and run some actions first."
    folder = Path(tempfile.mkdtemp(prefix="physgen-export-"))
    suffix = "_branchB" if session.other is not None else ""
    actions = session.dropped_actions + session.actions
    video, json_path, note = _write_branch(session, folder, session.real, session.predicted, actions, session.texts, suffix)
    branch_files, status = None, f"Exported {sum(len(a) for a in actions)} control steps. {note}"
    if session.other is not None:
        a = session.other
        actions_a = a.dropped_actions + a.actions
        video_a, json_a, _ = _write_branch(session, folder, a.real, a.predicted, actions_a, a.texts, "_branchA")
        branch_files = [str(p) for p in (video_a, json_a) if p]
        status += f" Both branches of the fork at chunk {a.fork_chunk} are exported (branch A: {sum(len(x) for x in actions_a)} control steps)."
    if session.dropped:
        status += (f" The session keeps only its last chunks, so the video covers chunks {session.dropped} to "
                   f"{session.num_chunks}; the actions file holds every step from the scene's start and replays all of it.")
    return video, json_path, branch_files, status


def _write_branch(session: StudioSession, folder: Path, real, predicted, actions, texts, suffix: str):
    stem = f"{session.scene}_seed{session.seed}_{len(actions)}chunks{suffix}"
    record = ActionRecord(session.scene, session.seed, np.concatenate(actions), tuple(text for text, _ in texts), chunk_length(session))
    json_path = folder / f"{stem}.json"
    json_path.write_text(record.to_json())
    video_path = None
    n = min(len(real), len(predicted))
    if n >= 1:
        video_path = write_side_by_side_video(folder / f"{stem}.mp4", real[:n], predicted[:n])
        note = f"{n} frames (one per chunk): simulator left, PhysGen right."
    else:
        note = "No video: the simulator or the model is unavailable, so there is no side-by-side."
    return (str(video_path) if video_path else None), str(json_path), note


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
