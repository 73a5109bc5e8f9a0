from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.models.classification import densenet

from .helpers import (
    assert_matches_torchvision,
    assert_parameter_count_close,
    assert_trains_on_small_input,
    num_parameters,
)


def test_densenet121_matches_torchvision() -> None:
    ours = densenet.densenet121(num_classes=1000, in_channels=3, image_size=224)
    theirs = torchvision.models.densenet121(weights=None)
    assert_parameter_count_close(ours, num_parameters(theirs))

    # 64 px is the smallest input that keeps the paper's 7x7/2 stem and max-pool.
    assert_matches_torchvision(ours, theirs)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = densenet.densenet121(num_classes=10, in_channels=in_channels, image_size=image_size, dropout=0.2)
    assert_trains_on_small_input(model, image_size, in_channels, model.stem[0][0])


def test_dense_block_concatenates_growth_rate_channels_per_layer() -> None:
    block = densenet.DenseBlock(num_layers=3, in_channels=16, growth_rate=8, bn_size=4, dropout=0.0)
    x = torch.randn(2, 16, 5, 5)
    out = block(x)
    assert out.shape == (2, 16 + 3 * 8, 5, 5) and block.out_channels == 40
    torch.testing.assert_close(out[:, :16], x)  # the input is passed on unchanged


def test_forward_features_is_the_map_before_pooling() -> None:
    model = densenet.densenet121(num_classes=10, image_size=224).eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 64, 64))
    assert features.shape == (1, model.num_features, 2, 2) and model.num_features == 1024
