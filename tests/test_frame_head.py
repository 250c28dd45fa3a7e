"""physgen train-frame-head: the frame head and its condition layers learn alone on cached backbone features."""

import pytest
import torch

from physgen.data.dataset import TokenPackWindows, WindowConfig
from physgen.errors import InputError
from physgen.train.frame_head import FRAME_HEAD_PREFIXES, FrameHeadTrainConfig, frame_batch, train_frame_head
from physgen.train.window_features import window_features


def test_frame_loss_on_cached_features_equals_the_models_loss(tiny_token_pack, make_tiny_model):
    model, _ = make_tiny_model()
    cfg = model.config
    window_config = WindowConfig(history=cfg.history, chunk=cfg.chunk, lookahead=cfg.lmtp, start_stride=1)
    windows = TokenPackWindows(tiny_token_pack, window_config, "train", "all")
    features = window_features(model, windows, progress=False)
    index = torch.arange(4)
    batch = [windows[i] for i in index.tolist()]
    stack = {key: torch.stack([item[key] for item in batch]) for key in batch[0]}
    with torch.no_grad():
        torch.manual_seed(1)
        full = model.loss(stack["frames"], stack["frame_valid"], stack["actions"], stack["action_valid"], stack["boa"], stack["imitate"])["frame"]
        torch.manual_seed(1)
        cached = model.frame_loss(**frame_batch(features, index))
    torch.testing.assert_close(cached, full, atol=1e-3, rtol=1e-3)  # features kept in fp16


def test_training_moves_the_frame_head_alone_and_lowers_its_val_loss(tiny_token_pack, make_tiny_model, tmp_path):
    model, _ = make_tiny_model()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    config = FrameHeadTrainConfig(minutes=5, max_steps=60, batch_size=8, lr=3e-3, eval_every=30, val_windows=16)
    result = train_frame_head(model, tiny_token_pack, tmp_path / "out", config, log=lambda *_: None)
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert moved and all(name.startswith(FRAME_HEAD_PREFIXES) for name in moved)
    assert result["val_loss"] < result["before"]["val_loss"]
    assert result["one_step_mse"] < result["before"]["one_step_mse"]
    assert (tmp_path / "out" / "model" / "config.json").exists()


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="lr"):
        FrameHeadTrainConfig(lr=0)
