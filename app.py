"""PhysGen Studio entry point (Hugging Face Spaces runs this file)."""

import os

# Offline by default: no analytics, no hub calls, no telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from app.layout import build_app, launch  # noqa: E402

demo = build_app()

if __name__ == "__main__":
    launch(
        demo,
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=False,
        ssr_mode=False,
    )
