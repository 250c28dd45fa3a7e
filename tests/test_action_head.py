"""physgen train-action-head: the Action-DiT learns alone on cached backbone features; nothing else moves."""

import numpy as np
import pytest
import torch

from physgen.data.dataset import TokenPackWindows, WindowConfig, split_of_seed
from physgen.data.episodes import Episode
from physgen.data.packs import write_token_pack
from physgen.errors import InputError
from physgen.train.action_head import ActionHeadTrainConfig, train_action_head, window_features

SEEDS = [s for s in range(40) if split_of_seed(s) == "val"][:2] + [s for s in range(40) if split_of_seed(s) == "train"][:6]


@pytest.fixture
def demo_pack(tmp_path, make_tiny_model):
    """Demonstrations whose actions sit around +0.3 in every dimension: a level the head can learn."""
    model, _ = make_tiny_model()
    cfg, rng = model.config, np.random.default_rng(0)
    chunks = 6
    episodes = [Episode(f"e{s}.h5", "traj_0", "PushCube-v1", s, chunks * cfg.chunk + 1) for s in SEEDS]
    tokens = {(e.path, e.key): rng.normal(size=(chunks + 1, cfg.num_frame_tokens, cfg.token_dim)).astype(np.float32) for e in episodes}
    actions = {(e.path, e.key): rng.uniform(0.2, 0.4, (chunks * cfg.chunk, cfg.action_dim)).astype(np.float32) for e in episodes}
    write_token_pack(episodes, tokens, actions, tmp_path / "pack", cfg.chunk, "test")
    return tmp_path / "pack"


def test_cached_features_are_the_backbone_outputs_of_each_window(demo_pack, make_tiny_model):
    model, _ = make_tiny_model()
    cfg = model.config
    windows = TokenPackWindows(demo_pack, WindowConfig(history=cfg.history, chunk=cfg.chunk, lookahead=cfg.lmtp, start_stride=1), "train", "demos")
    features = window_features(model, windows, batch_size=4, progress=False)
    item = windows[3]
    boa = model.boa_steps(1, cfg.history, item["boa"][None], item["action_valid"][None])
    with torch.no_grad():
        expected, _ = model.window_outputs(item["frames"][None], None, item["actions"][None], boa)
    torch.testing.assert_close(features.h_frame[3].float(), expected[0], atol=2e-3, rtol=2e-3)  # stored in fp16


def test_training_moves_the_action_head_alone_and_lowers_its_val_loss(demo_pack, make_tiny_model, tmp_path):
    model, _ = make_tiny_model()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    config = ActionHeadTrainConfig(minutes=5, max_steps=60, batch_size=8, lr=3e-3, eval_every=30, val_windows=16)
    result = train_action_head(model, demo_pack, tmp_path / "out", config, log=lambda *_: None)
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert moved and all(name.startswith(("action_head.", "lookahead_")) for name in moved)
    assert result["val_loss"] < result["before"]["val_loss"]
    assert {"ik_error", "ik_error_previous_chunk", "ik_error_zero_chunk"} <= set(result)
    assert model.config.action_scale is not None and (tmp_path / "out" / "model" / "config.json").exists()


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="batch_size"):
        ActionHeadTrainConfig(batch_size=0)
