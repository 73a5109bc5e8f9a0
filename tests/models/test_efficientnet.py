from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.models.classification import efficientnet
from dltrain.models.layers import DropPath

from .helpers import (
    assert_matches_torchvision,
    assert_parameter_count_close,
    assert_trains_on_small_input,
    num_parameters,
    randomise_norm_statistics,
)


def test_matches_torchvision() -> None:
    ours = efficientnet.efficientnet_b0(num_classes=1000, in_channels=3, image_size=224)
    theirs = torchvision.models.efficientnet_b0(weights=None)
    assert_parameter_count_close(ours, num_parameters(theirs))  # 5.29M

    randomise_norm_statistics(theirs)
    # 64 px is the smallest input that keeps the paper's stride-2 stem
    assert_matches_torchvision(ours, theirs)


def test_stochastic_depth_grows_linearly_with_depth() -> None:
    model = efficientnet.efficientnet_b0(num_classes=10, in_channels=3, image_size=32, drop_path_rate=0.2)
    rates = [m.drop_prob for m in model.modules() if isinstance(m, DropPath)]
    assert len(rates) == 16  # B0 has 16 MBConv blocks
    torch.testing.assert_close(torch.tensor(rates), 0.2 * torch.arange(16) / 16)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = efficientnet.efficientnet_b0(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.stem[0])
