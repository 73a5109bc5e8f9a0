"""The models: bilinear transposed-conv init, SegNet's unpooling, and one step per model config."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from dltrain import api
from dltrain.launch.config import CONFIG_DIR
from dltrain.models.segmentation.fcn import bilinear_upsampling
from dltrain.models.segmentation.segnet import SegNet

SEGMENTATION_MODELS = sorted(
    p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml")
    if "dltrain.models.segmentation." in p.read_text()
)
# narrow options so one step is fast; the architecture is unchanged
NARROW = {
    "fcn32s": ["model.width_multiplier=0.125", "model.fc_channels=32"],
    "fcn8s": ["model.width_multiplier=0.125", "model.fc_channels=32"],
    "unet": ["model.base_channels=8"],
    "segnet": ["model.width_multiplier=0.125"],
    "pspnet": ["model.backbone=resnet18", "model.head_channels=32", "data.image_size=64"],
    "deeplabv3": ["model.backbone=resnet18", "model.aspp_channels=32", "data.image_size=64"],
    "deeplabv3plus": ["model.backbone=resnet18", "model.aspp_channels=32", "data.image_size=64"],
}


def test_all_models_of_the_issue_have_configs():
    assert set(NARROW) == set(SEGMENTATION_MODELS)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_transposed_conv_starts_as_bilinear_upsampling(factor):
    x = torch.rand(1, 3, 6, 7)
    ours = bilinear_upsampling(3, factor)(x)
    reference = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert ours.shape == reference.shape
    # equal away from the border, where the transposed conv sees zero padding and interpolate clamps
    inner = (..., slice(factor, -factor), slice(factor, -factor))
    torch.testing.assert_close(ours[inner], reference[inner], atol=1e-6, rtol=1e-5)


def test_segnet_unpools_to_the_positions_of_the_maxima():
    model = SegNet(num_classes=2, width_multiplier=0.125)
    x = torch.randn(1, 8, 4, 4)
    pooled, indices = model.pool(x)
    restored = model.unpool(pooled, indices, output_size=x.shape)
    kept = restored != 0
    assert kept.sum() == 8 * 4  # one value per 2x2 window
    assert torch.equal(restored[kept], x[kept])  # each maximum is back exactly where it was
    windows = x.unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2)
    assert torch.equal(pooled, windows.amax(-1))


@pytest.mark.parametrize("name", SEGMENTATION_MODELS)
def test_model_config_composes_and_takes_one_training_step(name):
    cfg = api.compose([f"model={name}", "data=shapes_seg", *NARROW[name]])
    assert cfg.task._target_ == "dltrain.tasks.segmentation.SegmentationTask"
    model = instantiate(cfg.model).train()
    size = cfg.data.image_size
    x = torch.randn(2, cfg.data.in_channels, size, size)
    logits = model(x)
    assert logits.shape == (2, cfg.data.num_classes, size, size)
    F.cross_entropy(logits, torch.randint(0, cfg.data.num_classes, (2, size, size))).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
