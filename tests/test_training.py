"""`physgen train` end to end on tiny synthetic data: both stages, resume, LoRA."""

import csv
import json

import h5py
import numpy as np
import pytest

from physgen.data.episodes import CONVERTED_SUFFIX
from physgen.errors import InputError
from physgen.model.tokenizer import FrameTokenizer, TokenizerConfig
from physgen.model.world_model import PhysGen
from physgen.train.world_model import TrainConfig, train

TINY_MODEL = dict(token_dim=64, num_frame_tokens=4, chunk=3, history=3, dim=32, depth=2, heads=2, frame_head_width=32,
                  frame_head_depth=1, action_head_width=16, action_head_depth=1, lmtp=2, sample_steps=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    demos = root / "demos" / "PushCube-v1"
    demos.mkdir(parents=True)
    episodes = []
    with h5py.File(demos / f"shard_0000{CONVERTED_SUFFIX}.h5", "w") as f:
        for i in range(12):
            g = f.create_group(f"traj_{i}")
            g.create_dataset("obs/sensor_data/base_camera/rgb", data=rng.integers(0, 255, (31, 16, 16, 3), dtype=np.uint8))
            g.create_dataset("actions", data=rng.uniform(-1, 1, (30, 7)).astype(np.float32))
            episodes.append({"episode_id": i, "reset_kwargs": {"seed": i}, "elapsed_steps": 30})
    (demos / f"shard_0000{CONVERTED_SUFFIX}.json").write_text(json.dumps({"env_info": {"env_id": "PushCube-v1"}, "episodes": episodes}))
    videos = root / "videos" / "PullCube-v1"
    videos.mkdir(parents=True)
    for seed in range(12):
        with h5py.File(videos / f"ep_{seed:05d}.h5", "w") as f:
            f.create_dataset("frames", data=rng.integers(0, 255, (40, 16, 16, 3), dtype=np.uint8))
            f.attrs["seed"] = seed
    tokenizer = FrameTokenizer(TokenizerConfig(image_size=16, block_out_channels=(16, 16), latent_channels=4, patch=4))
    tokenizer.save_pretrained(root / "tokenizer")
    return root


def config(data, out, **kw):
    base = dict(stage="video", out_dir=str(out), tokenizer=str(data / "tokenizer"), demos=str(data / "demos"),
                videos=str(data / "videos"), model=TINY_MODEL, window=4, batch_size=2, max_steps=4, val_every=2,
                val_batches=2, latent_cache=str(data / "latents"))
    return TrainConfig(**{**base, **kw})


def test_stage1_writes_model_curves_and_resumes(data, tmp_path):
    metrics = train(config(data, tmp_path / "s1"), progress=False)
    assert metrics["step"] == 4 and (tmp_path / "s1" / "model" / "config.json").exists()
    rows = list(csv.DictReader(open(tmp_path / "s1" / "loss.csv")))
    # A row at every validation (every 2 steps here) and every LOG_EVERY steps.
    assert [r["step"] for r in rows] == ["2", "4"] and rows[1]["val_loss"] and (tmp_path / "s1" / "loss.html").exists()
    resumed = train(config(data, tmp_path / "s1", max_steps=6), progress=False)
    assert resumed["step"] == 6
    assert [r["step"] for r in csv.DictReader(open(tmp_path / "s1" / "loss.csv"))] == ["2", "4", "6"]


def test_stage2_from_stage1_with_lora_and_full(data, tmp_path):
    train(config(data, tmp_path / "s1"), progress=False)
    for mode in ("lora", "full"):
        out = tmp_path / f"s2_{mode}"
        metrics = train(config(data, out, stage="actions", init=str(tmp_path / "s1" / "model"), finetune=mode), progress=False)
        assert "action" in metrics["val"]
        model = PhysGen.from_pretrained(out / "model")
        assert not any("lora_" in n for n, _ in model.named_parameters())
        if mode == "lora":
            assert metrics["trainable"] < metrics["params"]


def test_bad_training_config_is_rejected(data, tmp_path):
    with pytest.raises(InputError, match="stage"):
        config(data, tmp_path, stage="audio")
    with pytest.raises(InputError, match="--init"):
        config(data, tmp_path, stage="actions", finetune="lora")
    with pytest.raises(InputError, match="tokenizer gives"):
        train(config(data, tmp_path, model={**TINY_MODEL, "token_dim": 32}), progress=False)


def test_stage2_ablation_changes_the_head_and_keeps_the_pretrained_backbone(data, tmp_path):
    import torch

    train(config(data, tmp_path / "s1"), progress=False)
    out = tmp_path / "s2_lmtp1"
    train(config(data, out, stage="actions", init=str(tmp_path / "s1" / "model"), model={"lmtp": 1}, max_steps=1, lr=1e-12), progress=False)
    pretrained, ablated = PhysGen.from_pretrained(tmp_path / "s1" / "model"), PhysGen.from_pretrained(out / "model")
    assert pretrained.config.lmtp == TINY_MODEL["lmtp"] != 1 and ablated.config.lmtp == 1
    name, weight = next((n, p) for n, p in pretrained.backbone.named_parameters() if p.ndim == 2)
    torch.testing.assert_close(dict(ablated.backbone.named_parameters())[name], weight, atol=1e-6, rtol=0)


def test_stage2_with_self_forcing_trains_and_records_it(data, tmp_path):
    out = tmp_path / "s2_self_forced"
    metrics = train(config(data, out, stage="actions", self_forcing=1.0, max_steps=2), progress=False)
    assert metrics["step"] == 2 and "action" in metrics["val"]
    assert json.loads((out / "train_config.json").read_text())["self_forcing"] == 1.0
