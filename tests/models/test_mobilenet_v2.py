from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.errors import UserError
from dltrain.models import transfer
from dltrain.models.classification import mobilenet_v2


def num_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomise_norm_statistics(model: torch.nn.Module) -> None:
    """Fresh BatchNorm layers are identities in eval mode; make them not, so a misplaced one shows."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)


def test_matches_torchvision() -> None:
    ours = mobilenet_v2.mobilenet_v2(num_classes=1000, in_channels=3, image_size=224)
    theirs = torchvision.models.mobilenet_v2(weights=None)
    expected = num_parameters(theirs)
    assert abs(num_parameters(ours) - expected) <= 0.01 * expected

    randomise_norm_statistics(theirs)
    mapped, skipped = transfer.map_state_dict_by_position(theirs.state_dict(), ours)
    assert skipped == []
    ours.load_state_dict(mapped)
    ours.eval()
    theirs.eval()
    x = torch.randn(1, 3, 64, 64)  # 64 px is the smallest input that keeps the paper's stride-2 stem
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


def test_pretrained_needs_width_one() -> None:
    with pytest.raises(UserError, match="width_mult=1.0"):
        mobilenet_v2.mobilenet_v2(pretrained=True, width_mult=0.5)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = mobilenet_v2.mobilenet_v2(num_classes=10, in_channels=in_channels, image_size=image_size)
    logits = model(torch.randn(2, in_channels, image_size, image_size))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    first_conv = model.stem[0]
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0
