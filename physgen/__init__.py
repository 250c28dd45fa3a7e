"""PhysGen: a pretrained autoregressive video model used as a physics simulator for manipulation.

The library is importable without Gradio. Heavy modules (ManiSkill, torch) are imported by the
submodules that need them, so `import physgen` stays cheap.
"""

__version__ = "0.1.0"

# Seeds at or above this value are reserved for evaluation and are never generated for training.
EVAL_SEED_START = 10_000

# Frames are IMAGE_SIZE x IMAGE_SIZE: what the simulator's camera renders and the tokenizer reads.
# It lives here, not in physgen.sim.camera, because the model layer never imports the simulator.
IMAGE_SIZE = 128
