from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from dltrain.errors import UserError
from dltrain.models import transfer
from dltrain.models.classification.mlp import mlp
from dltrain.models.classification.stn import stn

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


def build(image_size: int, in_channels: int, **kwargs) -> torch.nn.Module:
    backbone = mlp(num_classes=10, in_channels=in_channels, image_size=image_size)
    return stn(backbone, num_classes=10, in_channels=in_channels, image_size=image_size, **kwargs)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3), (224, 3)])
def test_starts_as_identity_transform(image_size: int, in_channels: int) -> None:
    model = build(image_size, in_channels).eval()
    x = torch.randn(2, in_channels, image_size, image_size)
    with torch.no_grad():
        # exact up to float rounding of the sampling grid (which grows with the image size)
        torch.testing.assert_close(model.transform(x), x, atol=1e-3, rtol=0)
        torch.testing.assert_close(model(x), model.backbone(x), atol=1e-3, rtol=0)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = build(image_size, in_channels)
    logits = model(torch.randn(2, in_channels, image_size, image_size))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    # The regressor starts at zero weight (identity transform), so at step one the gradient
    # reaches the regressor itself, not yet the localisation convolutions behind it.
    theta = model.localisation.theta.weight
    assert theta.grad is not None and theta.grad.abs().sum() > 0
    first = model.backbone.features[1].weight
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_learned_transform_changes_the_image() -> None:
    model = build(28, 1)
    with torch.no_grad():
        model.localisation.theta.bias.copy_(torch.tensor([0.5, 0.0, 0.2, 0.0, 0.5, -0.1]))  # zoom in, move
    x = torch.randn(2, 1, 28, 28)
    assert not torch.allclose(model.transform(x), x)


def test_head_is_the_backbone_head_and_freezing_keeps_it_trainable() -> None:
    model = build(28, 1, freeze_backbone=True)
    assert model.head is model.backbone.head
    assert transfer.head_parameter_names(model) == {"backbone.head.weight", "backbone.head.bias"}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"backbone.head.weight", "backbone.head.bias"}


def test_backbone_with_other_class_count_is_refused() -> None:
    backbone = mlp(num_classes=5, in_channels=1, image_size=28)
    with pytest.raises(UserError, match="5 classes"):
        stn(backbone, num_classes=10, in_channels=1, image_size=28)


def test_pretrained_points_to_the_backbone() -> None:
    with pytest.raises(UserError, match="model.backbone.pretrained"):
        build(28, 1, pretrained=True)


def test_config_selects_the_backbone() -> None:
    """`dltrain model=stn model.backbone._target_=...` builds the nested classifier."""
    overrides = ["model=stn", "data=mnist", "model.backbone._target_=dltrain.models.classification.mlp.mlp"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose("train", overrides=overrides)
    model = instantiate(cfg.model)
    assert type(model.backbone).__name__ == "MLP"
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, cfg.data.num_classes)
