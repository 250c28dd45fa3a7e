"""The page layout: components and wiring only (and `launch`, which adds the page's script)."""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr

from app import callbacks
from app.export import export_episode, load_action_file
from app.permanence_tab import run_permanence_probe
from app.plots import divergence_figure, presence_figure, trajectory_figure
from app.policy import MAX_POLICY_CHUNKS, let_physgen_act
from app.rendering import blank
from physgen.actions.language import HELP as ACTION_HELP
from physgen.actions.language import PREVIEW_HEADERS
from physgen.actions.presets import PRESETS
from physgen.sim.scenes import SCENES

# Requests the queue runs at once (PHYSGEN_CONCURRENCY overrides it, e.g. to bench against 1); each
# session has its own simulator, and the model is read-only.
CONCURRENCY = 2
# Torch threads per request (PHYSGEN_TORCH_THREADS overrides it). Measured on 2 cores with
# `python -m app.bench --sessions 8`: one thread made a single user's chunk faster (0.59 s against
# 0.86 s with torch's default of one per core) and 8 sessions' p95 lower (4.4 s against 6.1 s); the
# model's operations are too small to gain from splitting, and requests run side by side.
TORCH_THREADS = 1
# A session (its episode, frames and PhysGen's history) is deleted this long after its last update
# (gr.State's time_to_live). Its simulator goes back to the pool much sooner, after
# app.idle.SIMULATOR_IDLE_S without a request, and comes back with the next one.
SESSION_TTL_S = 4 * 3600
STUDIO_JS = (Path(__file__).parent / "static" / "studio.js").read_text(encoding="utf-8")
CSS = ".pg-hidden { display: none !important; } #drive-pad button { min-width: 3em; }"
DRIVE_HELP = (
    "**Drive**: tick *Drive with the keyboard*, then W A S D or the arrow keys move the gripper on the table, "
    "Q / E up and down, Space opens or closes it: one chunk per press, in both the simulator and PhysGen. "
    "Holding a key repeats; presses during a chunk are merged. **Drag** on the simulator image to draw a path."
)
PAD = (("◀", "a"), ("▲", "w"), ("▼", "s"), ("▶", "d"), ("Up (Q)", "q"), ("Down (E)", "e"))

EXAMPLE_ACTIONS = "right 5cm; down 8cm\nclose; up 5cm\nwait 2"
CLICK_HELP = (
    "**Click the simulator image** to add a move to that point of the table, at the height below; "
    "clicks chain into a path (yellow markers). Then press **Run**."
)


def build_app() -> gr.Blocks:
    with gr.Blocks(title="PhysGen Studio") as demo:
        session = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=callbacks.close_session)
        gr.Markdown(
            "# PhysGen Studio\nA pretrained video model used as a physics simulator: type or click actions, "
            "and watch PhysGen imagine the robot's future next to the real ManiSkill simulation."
        )
        gr.Markdown(callbacks.prediction_banner(), elem_id="banner")
        with gr.Tab("Studio"):
            with gr.Row():
                with gr.Column(scale=1, min_width=320):
                    scene = gr.Dropdown(callbacks.scene_choices(), value=next(iter(SCENES)), label="Scene", allow_custom_value=True)
                    with gr.Row():
                        seed = gr.Number(0, precision=0, minimum=0, label="Seed")
                        random_seed = gr.Checkbox(False, label="Random seed")
                    load = gr.Button("Load scene", variant="primary")
                    actions = gr.Textbox(EXAMPLE_ACTIONS, lines=6, label="Actions", info=ACTION_HELP, elem_id="actions-text")
                    with gr.Row():
                        parse = gr.Button("Preview")
                        run = gr.Button("Run", variant="primary")
                    gr.Markdown(CLICK_HELP)
                    height = gr.Slider(*callbacks.HEIGHT_RANGE_CM, value=8, step=0.5, label="Height of clicked targets above the table (cm)")
                    with gr.Row():
                        close_gripper = gr.Button("Close gripper", size="sm")
                        open_gripper = gr.Button("Open gripper", size="sm")
                        clear = gr.Button("Clear", size="sm")
                    with gr.Row():
                        preset = gr.Dropdown(list(PRESETS), value=next(iter(PRESETS)), label="Preset move", scale=3)
                        use_preset = gr.Button("Use preset", size="sm", scale=1)
                    with gr.Accordion("Drive", open=True):
                        gr.Markdown(DRIVE_HELP)
                        gr.Checkbox(False, label="Drive with the keyboard", elem_id="drive-enable")
                        with gr.Row(elem_id="drive-pad"):
                            pad = [gr.Button(label, size="sm", min_width=40, elem_id=f"pad-{key}") for label, key in PAD]
                        grip = gr.Button("Open / close gripper (Space)", size="sm", elem_id="pad-space")
                        drive_key = gr.Textbox("", elem_id="drive-key", elem_classes=["pg-hidden"], container=False)
                        drive_send = gr.Button("drive", elem_id="drive-send", elem_classes=["pg-hidden"])
                        stroke_points = gr.Textbox("", elem_id="stroke-points", elem_classes=["pg-hidden"], container=False)
                        stroke_send = gr.Button("stroke", elem_id="stroke-send", elem_classes=["pg-hidden"])
                    with gr.Accordion("Let PhysGen act (policy mode)", open=False):
                        policy_chunks = gr.Slider(1, MAX_POLICY_CHUNKS, value=8, step=1, label="Chunks to act")
                        act = gr.Button("Let PhysGen act")
                    with gr.Accordion("Export / load", open=False):
                        export = gr.Button("Export episode (mp4 + actions JSON)")
                        video_file = gr.File(label="Side-by-side video", interactive=False)
                        actions_file = gr.File(label="Actions JSON", interactive=False)
                        branch_files = gr.File(label="Branch A of the fork (mp4 + actions JSON)", file_count="multiple", interactive=False)
                        upload = gr.File(label="Load an actions .json file", file_types=[".json"], type="filepath")
                with gr.Column(scale=3):
                    with gr.Row():
                        image = gr.Image(blank(), label="Simulator (studio camera): click to set targets", format="png", interactive=False,
                                         height=420, elem_id="sim-image")
                        predicted = gr.Image(blank(), label="PhysGen prediction", format="png", interactive=False, height=420, elem_id="pred-image")
                    branch = gr.Image(None, label="Branch A (before the fork): simulator | PhysGen", format="png", interactive=False,
                                      height=260, visible=False, elem_id="branch-image")
                    with gr.Row():
                        scrubber = gr.Slider(0, 1, value=0, step=1, label="Scrub through chunks", interactive=False, elem_id="scrubber", scale=4)
                        fork_chunk = gr.Number(0, label="Fork at chunk", minimum=0, scale=1, min_width=90, elem_id="fork-chunk")
                        fork = gr.Button("Fork here", size="sm", scale=1, elem_id="fork")
                    latency = gr.Markdown("", elem_id="drive-latency")
                    status = gr.Markdown("Choose a scene and press **Load scene**.", elem_id="status")
                    with gr.Row():
                        divergence = gr.Plot(divergence_figure([]), label="Divergence", elem_id="divergence-plot")
                        trajectory = gr.Plot(trajectory_figure([], []), label="Gripper path", elem_id="trajectory-plot")
            preview = gr.Dataframe(headers=list(PREVIEW_HEADERS), label="Parsed actions", interactive=False)

        with gr.Tab("Object permanence"):
            gr.Markdown(
                "The robot pushes a red cube behind a grey wall and out the other side (a scripted push). "
                "Does PhysGen keep the cube while it is hidden, and bring it back where it reappears? "
                "Presence is scored at the cube's true position every chunk."
            )
            with gr.Row():
                probe_seed = gr.Number(0, precision=0, minimum=0, label="Seed", scale=1)
                probe = gr.Button("Run the occlusion probe", variant="primary", scale=2)
            with gr.Row():
                probe_real = gr.Image(blank(), label="Simulator", format="png", interactive=False, height=360)
                probe_pred = gr.Image(blank(), label="PhysGen prediction", format="png", interactive=False, height=360)
            probe_scrubber = gr.Slider(0, 1, value=0, step=1, label="Scrub through chunks", interactive=False)
            probe_status = gr.Markdown("")
            presence = gr.Plot(presence_figure({}, []), label="Presence")

        studio_view = [session, image, predicted, branch, status, divergence, trajectory, scrubber]
        load.click(callbacks.load_scene, [session, scene, seed, random_seed], [*studio_view, seed], api_name="load_scene")
        parse.click(callbacks.preview_actions, [actions, session], [preview, status], api_name="parse_actions")
        run.click(callbacks.run_actions, [session, actions], studio_view, api_name="run").then(
            lambda text, state: callbacks.preview_actions(text, state)[0], [actions, session], [preview], api_name=False
        )
        act.click(let_physgen_act, [session, policy_chunks], studio_view, api_name="act")
        scrubber.release(callbacks.scrub, [session, scrubber], [image, predicted, branch, status], api_name="scrub")
        scrubber.change(None, [scrubber], [fork_chunk], js="(chunk) => chunk", api_name=False)  # in the page: no request
        fork.click(callbacks.fork_here, [session, fork_chunk], studio_view, api_name="fork")
        drive_send.click(callbacks.drive, [session, drive_key], [*studio_view, latency], api_name="drive", trigger_mode="always_last",
                         show_progress="hidden")
        for button, (_, key) in zip(pad, PAD):
            button.click(None, js=f"() => window.physgenDrive('{key}')", api_name=False)
        grip.click(None, js="() => window.physgenDrive('space')", api_name=False)
        stroke_send.click(callbacks.draw_stroke, [session, actions, height, stroke_points], [session, image, actions, status], api_name="stroke")
        image.select(callbacks.click_target, [session, actions, height], [session, image, actions, status], api_name=False)
        clear.click(callbacks.clear_targets, [session], [session, image, actions, status], api_name=False)
        close_gripper.click(lambda text: callbacks.append_command(text, "close"), [actions], [actions], api_name=False)
        open_gripper.click(lambda text: callbacks.append_command(text, "open"), [actions], [actions], api_name=False)
        use_preset.click(callbacks.apply_preset, [session, preset], [actions, status], api_name="preset")
        export.click(export_episode, [session], [video_file, actions_file, branch_files, status], api_name="export")
        upload.upload(load_action_file, [session, upload], [*studio_view, seed, scene, actions], api_name="load_actions")
        probe_view = [session, probe_real, probe_pred, presence, probe_status, probe_scrubber]
        probe.click(run_permanence_probe, [session, probe_seed], probe_view, api_name="permanence")
        probe_scrubber.release(callbacks.scrub_probe, [session, probe_scrubber], [probe_real, probe_pred, probe_status], api_name=False)
    return demo


def launch(demo: gr.Blocks, **kwargs):
    """Queue (CONCURRENCY requests at once, TORCH_THREADS each), start filling the simulator pool, and serve with the page's script."""
    import torch

    from app.env_pool import shared_pool
    from physgen.sim.simulator import Simulator

    torch.set_num_threads(int(os.environ.get("PHYSGEN_TORCH_THREADS", TORCH_THREADS)))
    demo.queue(default_concurrency_limit=int(os.environ.get("PHYSGEN_CONCURRENCY", CONCURRENCY)))
    shared_pool(Simulator, callbacks.chunk_length()).prewarm(list(SCENES))
    return demo.launch(js=STUDIO_JS, css=CSS, **kwargs)
