from __future__ import annotations

import pytest
import torch

from dltrain.models.classification.spp import SpatialPyramidPooling, spp_net

from .helpers import assert_trains_on_small_input


@pytest.mark.parametrize("levels", [(1,), (1, 2, 4), (1, 2, 3, 6)])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (7, 7), (13, 20)])
def test_spp_output_length_is_channels_times_bins(levels: tuple[int, ...], height: int, width: int) -> None:
    spp = SpatialPyramidPooling(levels)
    out = spp(torch.randn(2, 16, height, width))
    assert out.shape == (2, 16 * sum(level * level for level in levels)) == (2, spp.output_size(16))


def test_spp_level_one_is_global_max_pooling() -> None:
    x = torch.randn(2, 8, 5, 6)
    out = SpatialPyramidPooling((1, 2))(x)
    torch.testing.assert_close(out[:, :8], x.amax(dim=(2, 3)))


@pytest.mark.parametrize(("image_size", "in_channels", "other_size"), [(32, 3, 48), (224, 3, 160)])
def test_spp_net_accepts_different_input_sizes(image_size: int, in_channels: int, other_size: int) -> None:
    model = spp_net(num_classes=10, in_channels=in_channels, image_size=image_size).eval()
    with torch.no_grad():
        a = model(torch.randn(1, in_channels, image_size, image_size))
        b = model(torch.randn(1, in_channels, other_size, other_size - 16))
    assert a.shape == b.shape == (1, 10)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = spp_net(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.features[0][0])


def test_freeze_backbone_trains_only_the_fully_connected_head() -> None:
    model = spp_net(num_classes=10, in_channels=1, image_size=28, freeze_backbone=True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.0.weight", "head.0.bias", "head.3.weight", "head.3.bias"}
