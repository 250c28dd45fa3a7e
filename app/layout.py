"""The page layout: components and wiring only."""

from __future__ import annotations

import gradio as gr

from app import callbacks
from app.rendering import blank
from physgen.action_text import HELP as ACTION_HELP
from physgen.action_text import PREVIEW_HEADERS
from physgen.scenes import SCENES

EXAMPLE_ACTIONS = "right 5cm; down 8cm\nclose; up 5cm\nwait 2"


def build_app() -> gr.Blocks:
    with gr.Blocks(title="PhysGen Studio") as demo:
        session = gr.State(None, delete_callback=callbacks.close_session)
        gr.Markdown("# PhysGen Studio\nA ManiSkill robot scene, stepped by the actions you type.")
        gr.Markdown(callbacks.prediction_banner(), elem_id="banner")
        with gr.Row():
            with gr.Column(scale=1):
                scene = gr.Dropdown(callbacks.scene_choices(), value=next(iter(SCENES)), label="Scene")
                with gr.Row():
                    seed = gr.Number(0, precision=0, minimum=0, label="Seed")
                    random_seed = gr.Checkbox(False, label="Random seed")
                load = gr.Button("Load scene", variant="primary")
                actions = gr.Textbox(EXAMPLE_ACTIONS, lines=5, label="Actions", info=ACTION_HELP, elem_id="actions-text")
                with gr.Row():
                    parse = gr.Button("Preview")
                    run = gr.Button("Run", variant="primary")
            with gr.Column(scale=3):
                with gr.Row():
                    image = gr.Image(blank(), label="Simulator (studio camera)", format="png", interactive=False, height=420, elem_id="sim-image")
                    predicted = gr.Image(blank(), label="PhysGen prediction", format="png", interactive=False, height=420, elem_id="pred-image")
                status = gr.Markdown("Choose a scene and press **Load scene**.", elem_id="status")
        preview = gr.Dataframe(headers=list(PREVIEW_HEADERS), label="Parsed actions", interactive=False)

        load.click(callbacks.load_scene, [session, scene, seed, random_seed], [session, image, predicted, status, seed], api_name="load_scene")
        parse.click(callbacks.preview_actions, [actions], [preview, status], api_name="parse_actions")
        run.click(callbacks.run_actions, [session, actions], [session, image, predicted, status, preview], api_name="run")
    return demo
