import os

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# No ready-simulator pool in tests (each ready env costs seconds of CPU); tests/test_env_pool.py tests the pool.
os.environ.setdefault("PHYSGEN_ENV_POOL", "0")

# The tiny world model of the tests: the real architecture at a size that runs in milliseconds.
# Its 128 px tokenizer with tiny channels gives 16 tokens of 64 dims, so real frames go through it.
TINY_MODEL = dict(token_dim=64, num_frame_tokens=16, history=3, dim=32, depth=2, heads=2, frame_head_width=32,
                  frame_head_depth=1, action_head_width=16, action_head_depth=1, lmtp=2, sample_steps=2)
TINY_TOKENIZER = dict(block_out_channels=(16, 16, 16, 16), latent_channels=4, patch=4)


@pytest.fixture(scope="session")
def sim():
    """One simulator shared by the sim tests: creating a ManiSkill env costs seconds."""
    from physgen.sim.simulator import Simulator

    simulator = Simulator()
    yield simulator
    simulator.close()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def make_tiny_model():
    """make(**overrides) -> (untrained tiny PhysGen, its tokenizer), seeded: the same call gives the same weights."""
    import torch

    from physgen.model.tokenizer import FrameTokenizer, TokenizerConfig
    from physgen.model.world_model import PhysGen

    def make(**overrides):
        torch.manual_seed(0)
        return PhysGen(**{**TINY_MODEL, **overrides}).eval(), FrameTokenizer(TokenizerConfig(**TINY_TOKENIZER)).eval()

    return make


@pytest.fixture(scope="session")
def make_tiny_checkpoint(make_tiny_model, tmp_path_factory):
    """make(**overrides) -> a folder holding a saved tiny model and tokenizer, as checkpoints are laid out."""

    def make(**overrides):
        folder = tmp_path_factory.mktemp("tiny-checkpoint")
        model, tokenizer = make_tiny_model(**overrides)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder / "tokenizer")
        return folder

    return make


@pytest.fixture(scope="session")
def tiny_checkpoint(make_tiny_checkpoint):
    """An untrained tiny checkpoint of the default chunk length: exercises the prediction path, not its quality."""
    return make_tiny_checkpoint()


@pytest.fixture
def tiny_token_pack(tmp_path, make_tiny_model):
    """A token pack for make_tiny_model's models: demonstrations (6 train, 2 val) whose actions sit
    around +0.3 in every dimension, and play episodes (2 train, 1 val) around -0.3, all with frame
    tokens around +0.5: levels a head can learn."""
    import numpy as np

    from physgen.data.dataset import split_of_seed
    from physgen.data.episodes import Episode
    from physgen.data.packs import write_token_pack

    model, _ = make_tiny_model()
    cfg, rng = model.config, np.random.default_rng(0)
    val = [s for s in range(60) if split_of_seed(s) == "val"]
    train = [s for s in range(60) if split_of_seed(s) == "train"]
    chunks = 6
    episodes = [Episode(f"e{s}.h5", "traj_0", "PushCube-v1", s, chunks * cfg.chunk + 1) for s in val[:2] + train[:6]]
    episodes += [Episode(f"p{s}.h5", "traj_0", "PushCube-v1", s, chunks * cfg.chunk + 1, imitate=False) for s in val[2:3] + train[6:8]]
    tokens = {(e.path, e.key): rng.normal(0.5, 0.2, size=(chunks + 1, cfg.num_frame_tokens, cfg.token_dim)).astype(np.float32) for e in episodes}
    level = {True: (0.2, 0.4), False: (-0.4, -0.2)}
    actions = {(e.path, e.key): rng.uniform(*level[e.imitate], (chunks * cfg.chunk, cfg.action_dim)).astype(np.float32) for e in episodes}
    write_token_pack(episodes, tokens, actions, tmp_path / "pack", cfg.chunk, "test")
    return tmp_path / "pack"
