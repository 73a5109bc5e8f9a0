from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.models.classification import vgg

from .helpers import (
    assert_matches_torchvision,
    assert_parameter_count_close,
    assert_trains_on_small_input,
    num_parameters,
)

VARIANTS = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
# One plain and one BatchNorm variant run by default; the others differ only in the layer table,
# which the parameter counts check, and each costs two 130M-parameter builds (run with -m slow).
FAST = ("vgg11", "vgg16_bn")
VARIANT_PARAMS = [pytest.param(v, marks=() if v in FAST else pytest.mark.slow) for v in VARIANTS]


@pytest.mark.parametrize("name", VARIANTS)
def test_parameter_count_matches_torchvision(name: str) -> None:
    with torch.device("meta"):  # counting needs shapes only
        ours = getattr(vgg, name)(num_classes=1000, in_channels=3, image_size=224)
        theirs = getattr(torchvision.models, name)(weights=None)
    assert_parameter_count_close(ours, num_parameters(theirs))


@pytest.mark.parametrize("name", VARIANT_PARAMS)
def test_matches_torchvision(name: str) -> None:
    theirs = getattr(torchvision.models, name)(weights=None).eval()
    with torch.device("meta"):  # every tensor comes from torchvision below
        ours = getattr(vgg, name)(num_classes=1000, in_channels=3, image_size=224)
    # VGG has no stride in its convolutions; 32 px survives five pools
    assert_matches_torchvision(ours, theirs, (1, 3, 32, 32), assign=True)


@pytest.mark.parametrize("name", VARIANT_PARAMS)
@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward(name: str, image_size: int, in_channels: int) -> None:
    model = getattr(vgg, name)(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.features[0])


@pytest.mark.parametrize(("image_size", "pools"), [(8, 3), (28, 4), (32, 5), (224, 5)])
def test_tiny_inputs_skip_pools_below_one_pixel(image_size: int, pools: int) -> None:
    with torch.device("meta"):
        model = vgg.vgg11(num_classes=10, image_size=image_size)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.features) == pools


def test_freeze_backbone_leaves_only_the_head_trainable() -> None:
    model = vgg.vgg11_bn(num_classes=10, image_size=32, freeze_backbone=True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}
