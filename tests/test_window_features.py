"""Cached backbone features: what they hold, and when the disk cache is reused."""

import torch

from physgen.data.dataset import TokenPackWindows, WindowConfig
from physgen.train.window_features import cached_window_features, window_features


def _windows(pack, model, episodes="demos"):
    cfg = model.config
    return TokenPackWindows(pack, WindowConfig(history=cfg.history, chunk=cfg.chunk, lookahead=cfg.lmtp, start_stride=1), "train", episodes)


def test_features_are_the_backbone_outputs_of_each_window(tiny_token_pack, make_tiny_model):
    model, _ = make_tiny_model()
    windows = _windows(tiny_token_pack, model)
    features = window_features(model, windows, batch_size=4, progress=False)
    item = windows[3]
    boa = model.boa_steps(1, model.config.history, item["boa"][None], item["action_valid"][None])
    with torch.no_grad():
        h_frame, h_action = model.window_outputs(item["frames"][None], None, item["actions"][None], boa)
    torch.testing.assert_close(features.h_frame[3].float(), h_frame[0], atol=2e-3, rtol=2e-3)  # stored in fp16
    torch.testing.assert_close(features.h_last_action[3].float(), h_action[0, :, -1], atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(features.frames[3].float(), item["frames"], atol=2e-3, rtol=2e-3)
    assert features.imitate.all() and not window_features(model, _windows(tiny_token_pack, model, "play"), progress=False).imitate.any()


def test_features_are_reused_from_disk_until_the_backbone_moves(tiny_token_pack, make_tiny_model, tmp_path):
    model, _ = make_tiny_model()
    windows, cache = _windows(tiny_token_pack, model), tmp_path / "cache"
    first = cached_window_features(model, tiny_token_pack, windows, cache, "train")
    again = cached_window_features(model, tiny_token_pack, windows, cache, "train")
    torch.testing.assert_close(again.h_frame, first.h_frame, atol=0, rtol=0)
    assert len(list(cache.glob("*.safetensors"))) == 1
    with torch.no_grad():
        next(model.action_head.parameters()).add_(1.0)
        next(model.frame_head.parameters()).add_(1.0)
    cached_window_features(model, tiny_token_pack, windows, cache, "train")
    assert len(list(cache.glob("*.safetensors"))) == 1  # the heads are not part of the key
    with torch.no_grad():
        model.frame_in.weight.add_(1.0)
    cached_window_features(model, tiny_token_pack, windows, cache, "train")
    assert len(list(cache.glob("*.safetensors"))) == 2  # a moved backbone computes anew
