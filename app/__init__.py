"""PhysGen Studio: the Gradio app. It holds no model math; everything comes from `physgen`."""
