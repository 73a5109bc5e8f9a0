from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.errors import UserError
from dltrain.models.classification import shufflenet_v2

from .helpers import (
    assert_matches_torchvision,
    assert_parameter_count_close,
    assert_trains_on_small_input,
    num_parameters,
    randomise_norm_statistics,
)

# width_mult -> torchvision model of the same width (paper Table 5)
WIDTHS = {0.5: "shufflenet_v2_x0_5", 1.0: "shufflenet_v2_x1_0", 1.5: "shufflenet_v2_x1_5", 2.0: "shufflenet_v2_x2_0"}


@pytest.mark.parametrize(("width_mult", "name"), WIDTHS.items())
def test_matches_torchvision(width_mult: float, name: str) -> None:
    ours = shufflenet_v2.shufflenet_v2(num_classes=1000, in_channels=3, image_size=224, width_mult=width_mult)
    theirs = getattr(torchvision.models, name)(weights=None)
    assert_parameter_count_close(ours, num_parameters(theirs))

    randomise_norm_statistics(theirs)
    # 64 px is the smallest input that keeps the stride-2 conv1 and max-pool
    assert_matches_torchvision(ours, theirs)


def test_channel_shuffle_interleaves_the_two_halves() -> None:
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert shufflenet_v2.channel_shuffle(x, groups=2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_unknown_width_is_a_user_error() -> None:
    with pytest.raises(UserError, match="width"):
        shufflenet_v2.ShuffleNetV2(width_mult=0.75)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = shufflenet_v2.shufflenet_v2(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.conv1[0])
