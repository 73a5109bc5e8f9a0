from __future__ import annotations

import pytest
import torchvision

from dltrain.models.classification import squeezenet

from .helpers import (
    assert_matches_torchvision,
    assert_parameter_count_close,
    assert_trains_on_small_input,
    num_parameters,
)


def test_matches_torchvision() -> None:
    # final_relu=True is the paper's (and torchvision's) ReLU on the logits.
    ours = squeezenet.squeezenet1_1(num_classes=1000, in_channels=3, image_size=224, final_relu=True)
    theirs = torchvision.models.squeezenet1_1(weights=None)
    assert_parameter_count_close(ours, num_parameters(theirs))

    # 64 px is the smallest input that keeps the paper's stride-2 conv1 and pool
    assert_matches_torchvision(ours, theirs)


def test_freeze_backbone_leaves_only_the_conv_head_trainable() -> None:
    model = squeezenet.squeezenet1_1(freeze_backbone=True, num_classes=10, in_channels=3, image_size=32)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = squeezenet.squeezenet1_1(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.features.conv1[0])
