"""The object-permanence tab: the probe scene's scripted occlusion, predicted next to actual."""

from __future__ import annotations

import gradio as gr
import numpy as np

from app.callbacks import chunk_length
from app.gpu import gpu
from app.model_store import shared_model
from app.plots import presence_figure
from app.rendering import blank, upscale
from app.session import StudioSession, one_at_a_time
from physgen.errors import InputError, SimulatorUnavailable
from physgen.eval.permanence import PROBE_SCENE, ProbeEpisode, after_reappearance, imagine, one_step, presence_scores, run_probe
from physgen.sim.simulator import SimConfig, Simulator, validate_seed

TRUTH, CEILING = "ground truth (segmentation)", "tokenizer ceiling (VAE round trip of the real frames)"


@gpu
def _imagine(world, episode: ProbeEpisode) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Open loop, tokenizer ceiling, and one chunk ahead of the real frames (the last leaves the
    world where the real episode ends)."""
    return *imagine(world, episode), one_step(world, episode)


@one_at_a_time
def run_permanence_probe(session: StudioSession | None, seed):
    """Run the probe and score presence. Yields (session, real image, predicted image, plot, status, scrubber).

    The probe replaces the session's current scene (one simulator per session)."""
    session = session or StudioSession()
    try:
        seed = validate_seed(seed)
        if session.sim_error:
            raise SimulatorUnavailable(session.sim_error)
        session.sim = session.sim or Simulator(SimConfig(chunk_len=chunk_length(session)))
        running = "Running the scripted occlusion in the simulator (about 20 s)…"
        yield session, blank(), blank(), presence_figure({}, np.array([], int)), running, _slider(0)
        episode = run_probe(session.sim, seed, chunk_len=chunk_length(session))  # chunk boundaries where the model predicts
    except (InputError, SimulatorUnavailable) as exc:
        yield session, blank(), blank(), presence_figure({}, np.array([], int)), f"⚠️ {exc}", _slider(0)
        return
    # The studio tab now shows the probe episode too.
    session.clear_episode()
    session.scene, session.seed, session.real = PROBE_SCENE, seed, list(episode.frames)
    curves = {TRUTH: episode.ground_truth_presence}
    model, tokenizer, reason = shared_model()
    hidden = episode.hidden_chunks
    if model is None:
        status = f"Prediction unavailable ({reason}); showing the simulator's episode only."
        plot = presence_figure(curves, hidden, (TRUTH, CEILING))
        yield session, upscale(episode.frames[-1]), blank(), plot, status, _slider(len(episode.frames) - 1)
        return
    from physgen.model.world_env import WorldModelEnv

    session.world = session.world or WorldModelEnv(model, tokenizer, sample_steps=model.config.sample_steps)
    predicted, ceiling, ahead = _imagine(session.world, episode)
    session.predicted = predicted
    curves["PhysGen prediction"] = presence_scores(episode, predicted)
    curves["PhysGen one chunk ahead of the real frames"] = presence_scores(episode, ahead)
    curves[CEILING] = presence_scores(episode, ceiling)
    # Play the episode chunk by chunk, the curves growing with it; the scrubber replays any chunk.
    for i in range(len(episode.frames)):
        so_far = {name: values[: i + 1] for name, values in curves.items()}
        state = "hidden behind the wall" if episode.visible_pixels[i] == 0 else f"{episode.visible_pixels[i]} cube pixels visible"
        plot = presence_figure(so_far, hidden[hidden <= i], (TRUTH, CEILING))
        yield session, upscale(episode.frames[i]), upscale(predicted[i]), plot, f"Chunk {i}: {state}.", _slider(i)
    last = len(episode.frames) - 1
    summary = probe_summary(episode, curves)
    plot = presence_figure(curves, hidden, (TRUTH, CEILING))
    yield session, upscale(episode.frames[-1]), upscale(predicted[-1]), plot, summary, _slider(last, last)


def _slider(value: int, maximum: int | None = None):
    """The probe's scrubber: locked while the episode plays, free once it has finished."""
    return gr.Slider(minimum=0, maximum=max(maximum or value, 1), value=value, step=1, interactive=maximum is not None)


def probe_summary(episode: ProbeEpisode, curves: dict[str, np.ndarray]) -> str:
    hidden = episode.hidden_chunks
    if not len(hidden):
        return "The cube was never fully hidden in this seed; try another seed."
    parts = [f"The cube is fully hidden at chunks {hidden[0]}–{hidden[-1]}. Mean presence after it reappears:"]
    parts += [f"{name}: {after_reappearance(episode, values):.2f}" for name, values in curves.items()]
    return " ".join(parts[:1]) + " " + "; ".join(parts[1:]) + "."
