from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.models import transfer
from dltrain.models.classification import alexnet


def num_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_matches_torchvision() -> None:
    with torch.device("meta"):  # counting needs shapes only
        ours = alexnet.alexnet(num_classes=1000, in_channels=3, image_size=224)
        theirs = torchvision.models.alexnet(weights=None)
    expected = num_parameters(theirs)  # 61,100,840
    assert abs(num_parameters(ours) - expected) <= 0.01 * expected


def test_matches_torchvision_without_lrn() -> None:
    """torchvision's AlexNet has no LRN; LRN has no parameters, so the weights map either way."""
    theirs = torchvision.models.alexnet(weights=None).eval()
    with torch.device("meta"):  # every tensor comes from torchvision below
        ours = alexnet.alexnet(num_classes=1000, in_channels=3, image_size=224, use_lrn=False)
    mapped, skipped = transfer.map_state_dict_by_position(theirs.state_dict(), ours)
    assert skipped == []
    ours.load_state_dict(mapped, assign=True)
    ours.eval()
    x = torch.randn(1, 3, 64, 64)  # 63 px is the least the 11x11/4 stem and three pools take
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


def test_local_response_norm_follows_conv1_and_conv2() -> None:
    model = alexnet.alexnet(num_classes=10, image_size=32)
    lrn = [i for i, m in enumerate(model.features) if isinstance(m, torch.nn.LocalResponseNorm)]
    assert lrn == [2, 6]
    assert all(isinstance(model.features[i + 1], torch.nn.MaxPool2d) for i in lrn)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward(image_size: int, in_channels: int) -> None:
    model = alexnet.alexnet(num_classes=10, in_channels=in_channels, image_size=image_size)
    logits = model(torch.randn(2, in_channels, image_size, image_size))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    first_conv = model.features[0]
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0


def test_small_images_are_never_upsampled() -> None:
    with torch.device("meta"):
        assert alexnet.alexnet(image_size=8).avgpool.output_size == 1  # 8 -> 4 -> 2 -> 1
        assert alexnet.alexnet(image_size=32).avgpool.output_size == 4  # 32 -> 16 -> 8 -> 4


def test_freeze_backbone_leaves_only_the_head_trainable() -> None:
    model = alexnet.alexnet(num_classes=10, image_size=32, freeze_backbone=True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}
