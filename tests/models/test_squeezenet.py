from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.models import transfer
from dltrain.models.classification import squeezenet


def num_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_matches_torchvision() -> None:
    # final_relu=True is the paper's (and torchvision's) ReLU on the logits.
    ours = squeezenet.squeezenet1_1(num_classes=1000, in_channels=3, image_size=224, final_relu=True)
    theirs = torchvision.models.squeezenet1_1(weights=None)
    expected = num_parameters(theirs)
    assert abs(num_parameters(ours) - expected) <= 0.01 * expected

    mapped, skipped = transfer.map_state_dict_by_position(theirs.state_dict(), ours)
    assert skipped == []
    ours.load_state_dict(mapped)
    ours.eval()
    theirs.eval()
    x = torch.randn(1, 3, 64, 64)  # 64 px is the smallest input that keeps the paper's stride-2 conv1 and pool
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


def test_freeze_backbone_leaves_only_the_conv_head_trainable() -> None:
    model = squeezenet.squeezenet1_1(freeze_backbone=True, num_classes=10, in_channels=3, image_size=32)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = squeezenet.squeezenet1_1(num_classes=10, in_channels=in_channels, image_size=image_size)
    logits = model(torch.randn(2, in_channels, image_size, image_size))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    first_conv = model.features.conv1[0]
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0
