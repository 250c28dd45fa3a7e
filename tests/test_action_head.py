"""physgen train-action-head: the Action-DiT learns alone on cached backbone features; nothing else moves."""

import pytest
import torch

from physgen.errors import InputError
from physgen.train.action_head import ActionHeadTrainConfig, train_action_head


def test_training_moves_the_action_head_alone_and_lowers_its_val_loss(tiny_token_pack, make_tiny_model, tmp_path):
    model, _ = make_tiny_model()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    config = ActionHeadTrainConfig(minutes=5, max_steps=60, batch_size=8, lr=3e-3, eval_every=30, val_windows=16)
    result = train_action_head(model, tiny_token_pack, tmp_path / "out", config, log=lambda *_: None)
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert moved and all(name.startswith(("action_head.", "lookahead_")) for name in moved)
    assert result["val_loss"] < result["before"]["val_loss"]
    assert {"ik_error", "ik_error_previous_chunk", "ik_error_zero_chunk"} <= set(result)
    assert model.config.action_scale is not None and (tmp_path / "out" / "model" / "config.json").exists()


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="batch_size"):
        ActionHeadTrainConfig(batch_size=0)


def test_the_cli_stops_at_max_steps_before_the_time_budget(tiny_checkpoint, tiny_token_pack, tmp_path):
    import json

    from physgen.cli import main

    out = tmp_path / "run"
    assert main(["train-action-head", "--checkpoint", str(tiny_checkpoint), "--pack", str(tiny_token_pack), "--out", str(out),
                 "--minutes", "30", "--max-steps", "4", "--batch-size", "4", "--eval-every", "2", "--cosine"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 4 and metrics["config"]["max_steps"] == 4
