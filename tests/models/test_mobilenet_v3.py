from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.errors import UserError
from dltrain.models.classification import mobilenet_v3

from .helpers import (
    assert_matches_torchvision,
    assert_parameter_count_close,
    assert_trains_on_small_input,
    num_parameters,
    randomise_norm_statistics,
)

VARIANTS = ["mobilenet_v3_small", "mobilenet_v3_large"]


@pytest.mark.parametrize("name", VARIANTS)
def test_matches_torchvision(name: str) -> None:
    ours = getattr(mobilenet_v3, name)(num_classes=1000, in_channels=3, image_size=224)
    theirs = getattr(torchvision.models, name)(weights=None)
    assert_parameter_count_close(ours, num_parameters(theirs))

    randomise_norm_statistics(theirs)
    # 64 px is the smallest input that keeps the paper's stride-2 stem
    assert_matches_torchvision(ours, theirs)


def test_se_uses_hard_sigmoid_gate() -> None:
    model = mobilenet_v3.mobilenet_v3_small(num_classes=10, in_channels=3, image_size=224)
    assert isinstance(model.blocks[0].se.gate, torch.nn.Hardsigmoid)


def test_unknown_variant_and_pretrained_width_are_user_errors() -> None:
    with pytest.raises(UserError, match="variant"):
        mobilenet_v3.MobileNetV3(variant="medium")
    with pytest.raises(UserError, match="width_mult=1.0"):
        mobilenet_v3.mobilenet_v3_large(pretrained=True, width_mult=0.75)


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(name: str, image_size: int, in_channels: int) -> None:
    model = getattr(mobilenet_v3, name)(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.stem[0])
