from __future__ import annotations

import pytest
import torch

from dltrain.errors import UserError
from dltrain.models.classification import mobilenet_v1

from .helpers import assert_parameter_count_close, assert_trains_on_small_input, num_parameters

# torchvision has no MobileNet v1. Published: 4.2M parameters for 1.0 MobileNet-224
# (Howard et al., 2017, Table 8); exactly 4,231,976 with a 1000-class FC.
MOBILENET_V1_PARAMETERS = 4_231_976

# Paper Table 6, rounded there to 0.1M: width multiplier -> millions of parameters.
PUBLISHED_BY_WIDTH = {1.0: 4.2e6, 0.75: 2.6e6, 0.5: 1.3e6, 0.25: 0.5e6}


def test_parameter_count_matches_paper() -> None:
    model = mobilenet_v1.mobilenet_v1(num_classes=1000, in_channels=3, image_size=224)
    assert_parameter_count_close(model, MOBILENET_V1_PARAMETERS)


@pytest.mark.parametrize(("width_mult", "published"), PUBLISHED_BY_WIDTH.items())
def test_width_multiplier_matches_paper_table6(width_mult: float, published: float) -> None:
    model = mobilenet_v1.mobilenet_v1(num_classes=1000, in_channels=3, image_size=224, width_mult=width_mult)
    assert abs(num_parameters(model) - published) <= 0.05e6  # the paper rounds to 0.1M


def test_paper_stem_output_is_7x7_at_224() -> None:
    model = mobilenet_v1.MobileNetV1(image_size=224).eval()
    with torch.no_grad():
        features = model.blocks(model.stem(torch.randn(1, 3, 224, 224)))
    assert features.shape == (1, 1024, 7, 7)


def test_pretrained_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no torchvision weights"):
        mobilenet_v1.mobilenet_v1(pretrained=True, num_classes=10, in_channels=3, image_size=32)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = mobilenet_v1.mobilenet_v1(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.stem[0])
