from __future__ import annotations

import pytest
import torchvision

from dltrain.errors import UserError
from dltrain.models.classification import mobilenet_v2

from .helpers import (
    assert_matches_torchvision,
    assert_parameter_count_close,
    assert_trains_on_small_input,
    num_parameters,
    randomise_norm_statistics,
)


def test_matches_torchvision() -> None:
    ours = mobilenet_v2.mobilenet_v2(num_classes=1000, in_channels=3, image_size=224)
    theirs = torchvision.models.mobilenet_v2(weights=None)
    assert_parameter_count_close(ours, num_parameters(theirs))

    randomise_norm_statistics(theirs)
    # 64 px is the smallest input that keeps the paper's stride-2 stem
    assert_matches_torchvision(ours, theirs)


def test_pretrained_needs_width_one() -> None:
    with pytest.raises(UserError, match="width_mult=1.0"):
        mobilenet_v2.mobilenet_v2(pretrained=True, width_mult=0.5)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = mobilenet_v2.mobilenet_v2(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.stem[0])
