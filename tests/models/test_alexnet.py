from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.models.classification import alexnet

from .helpers import (
    assert_matches_torchvision,
    assert_parameter_count_close,
    assert_trains_on_small_input,
    num_parameters,
)


def test_parameter_count_matches_torchvision() -> None:
    with torch.device("meta"):  # counting needs shapes only
        ours = alexnet.alexnet(num_classes=1000, in_channels=3, image_size=224)
        theirs = torchvision.models.alexnet(weights=None)
    assert_parameter_count_close(ours, num_parameters(theirs))  # 61,100,840


def test_matches_torchvision_without_lrn() -> None:
    """torchvision's AlexNet has no LRN; LRN has no parameters, so the weights map either way."""
    theirs = torchvision.models.alexnet(weights=None).eval()
    with torch.device("meta"):  # every tensor comes from torchvision below
        ours = alexnet.alexnet(num_classes=1000, in_channels=3, image_size=224, use_lrn=False)
    # 63 px is the least the 11x11/4 stem and three pools take
    assert_matches_torchvision(ours, theirs, assign=True)


def test_local_response_norm_follows_conv1_and_conv2() -> None:
    model = alexnet.alexnet(num_classes=10, image_size=32)
    lrn = [i for i, m in enumerate(model.features) if isinstance(m, torch.nn.LocalResponseNorm)]
    assert lrn == [2, 6]
    assert all(isinstance(model.features[i + 1], torch.nn.MaxPool2d) for i in lrn)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward(image_size: int, in_channels: int) -> None:
    model = alexnet.alexnet(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.features[0])


def test_small_images_are_never_upsampled() -> None:
    with torch.device("meta"):
        assert alexnet.alexnet(image_size=8).avgpool.output_size == 1  # 8 -> 4 -> 2 -> 1
        assert alexnet.alexnet(image_size=32).avgpool.output_size == 4  # 32 -> 16 -> 8 -> 4


def test_freeze_backbone_leaves_only_the_head_trainable() -> None:
    model = alexnet.alexnet(num_classes=10, image_size=32, freeze_backbone=True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}
