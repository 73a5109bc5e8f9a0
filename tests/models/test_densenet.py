from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.models import transfer
from dltrain.models.classification import densenet


def test_densenet121_matches_torchvision() -> None:
    ours = densenet.densenet121(num_classes=1000, in_channels=3, image_size=224)
    theirs = torchvision.models.densenet121(weights=None)
    ours_count = sum(p.numel() for p in ours.parameters())
    theirs_count = sum(p.numel() for p in theirs.parameters())
    assert abs(ours_count - theirs_count) <= 0.01 * theirs_count

    mapped, skipped = transfer.map_state_dict_by_position(theirs.state_dict(), ours)
    assert skipped == []
    ours.load_state_dict(mapped)
    ours.eval()
    theirs.eval()
    # 64 px is the smallest input that keeps the paper's 7x7/2 stem and max-pool.
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = densenet.densenet121(num_classes=10, in_channels=in_channels, image_size=image_size, dropout=0.2)
    logits = model(torch.randn(2, in_channels, image_size, image_size))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    first_conv = model.stem[0][0]
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0


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
