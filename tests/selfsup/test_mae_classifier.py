"""The ViT classifier on an MAE encoder: loading the pre-trained encoder, linear probing, fine-tuning."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from dltrain import api, checkpoint
from dltrain.checkpoint.fine_tune import load_pretrained_part
from dltrain.errors import UserError
from dltrain.launch import build
from dltrain.models.selfsup.mae import MaskedAutoencoder
from dltrain.models.selfsup.mae_classifier import MAEClassifier

SHAPE = {"in_channels": 1, "image_size": 8, "patch_size": 2, "embed_dim": 16, "depth": 2, "num_heads": 2}


@pytest.fixture
def mae_checkpoint(tmp_path):
    torch.manual_seed(1)
    mae = MaskedAutoencoder(**SHAPE, decoder_dim=16, decoder_depth=1, decoder_num_heads=2)
    path = tmp_path / "best.ckpt"
    checkpoint.save({"model": mae.state_dict()}, path)
    return mae, path


def test_init_from_loads_the_pretrained_encoder(mae_checkpoint):
    mae, path = mae_checkpoint
    torch.manual_seed(2)  # a different random init, so equality can only come from the file
    fresh = MAEClassifier(10, **SHAPE)
    loaded = load_pretrained_part(MAEClassifier(10, **SHAPE), path)
    for name, weight in mae.encoder.state_dict().items():
        assert torch.equal(loaded.encoder.state_dict()[name], weight), name
    assert not torch.equal(fresh.encoder.blocks[0].attn.qkv.weight, mae.encoder.blocks[0].attn.qkv.weight)


def test_init_from_a_checkpoint_without_an_mae_encoder_is_one_clear_error(tmp_path):
    path = tmp_path / "other.ckpt"
    checkpoint.save({"model": {"head.weight": torch.zeros(1)}}, path)
    with pytest.raises(UserError, match="no MAE encoder"):
        load_pretrained_part(MAEClassifier(10, **SHAPE), path)


def test_init_from_an_encoder_of_another_shape_names_the_options_to_match(mae_checkpoint):
    _, path = mae_checkpoint
    with pytest.raises(UserError, match="embed_dim"):
        load_pretrained_part(MAEClassifier(10, **{**SHAPE, "embed_dim": 32}), path)


def test_linear_probe_trains_only_the_head_on_frozen_features():
    model = MAEClassifier(10, **SHAPE, drop_path_rate=0.5, linear_probe=True).train()
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["head.1.weight", "head.1.bias"]  # BatchNorm(affine=False) has no parameters
    assert not model.encoder.training and model.head.training  # no drop-path noise; BN statistics update
    images = torch.randn(6, 1, 8, 8)
    assert torch.equal(model.features(images), model.features(images))
    model(images).sum().backward()
    assert all(p.grad is None for p in model.encoder.parameters())


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_fine_tuning_trains_everything(pool):
    model = MAEClassifier(10, **SHAPE, pool=pool)
    logits = model(torch.randn(3, 1, 8, 8))
    assert logits.shape == (3, 10)
    logits.sum().backward()
    assert all(p.requires_grad and p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name, probe", [("mae_vit_probe", True), ("mae_vit_finetune", False)])
def test_classifier_configs_match_the_mae_encoder_and_bring_the_classification_task(name, probe, tmp_path):
    cfg = api.compose([f"model={name}"])
    assert cfg.task._target_.endswith("ClassificationTask")
    mae_cfg = api.compose(["model=mae"])
    for key in ("patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio"):
        assert cfg.model[key] == mae_cfg.model[key], key  # init_from works with the defaults
    path = tmp_path / "mae.ckpt"
    checkpoint.save({"model": instantiate(mae_cfg.model).state_dict()}, path)
    cfg.model.init_from = str(path)
    model = build.build_model(cfg)  # the run builder loads the encoder: the model never reads the file
    for name, weight in checkpoint.load(path)["model"].items():
        if name.startswith("encoder."):
            assert torch.equal(model.state_dict()[name], weight), name
    assert model.linear_probe is probe
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_an_unknown_pool_is_refused():
    with pytest.raises(UserError, match="pool"):
        MAEClassifier(10, **SHAPE, pool="max")
