"""Checks shared by the classifier tests in this folder."""
from __future__ import annotations

import torch

from dltrain.models import transfer


def num_parameters(model: torch.nn.Module) -> int:
    """Number of scalar parameters of ``model`` (works on meta-device models too)."""
    return sum(p.numel() for p in model.parameters())


def assert_parameter_count_close(model: torch.nn.Module, expected: float, tolerance: float = 0.01) -> None:
    """``model`` has ``expected`` parameters, give or take ``tolerance`` (a fraction: 1% by default)."""
    assert abs(num_parameters(model) - expected) <= tolerance * expected


def randomise_norm_statistics(model: torch.nn.Module) -> None:
    """Fresh BatchNorm layers are identities in eval mode; make them not, so a misplaced one shows."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)


def assert_matches_torchvision(
    ours: torch.nn.Module,
    theirs: torch.nn.Module,
    input_shape: tuple[int, ...] = (1, 3, 64, 64),
    atol: float = 1e-5,
    assign: bool = False,
) -> None:
    """Load ``theirs``' weights into ``ours`` by position, then both give the same output (eval mode).

    Every tensor must map (nothing skipped). ``assign=True`` is for ``ours`` built on the meta
    device: the loaded tensors replace its parameters. ``atol`` is also the relative tolerance.
    """
    mapped, skipped = transfer.map_state_dict_by_position(theirs.state_dict(), ours)
    assert skipped == []
    ours.load_state_dict(mapped, assign=assign)
    ours.eval()
    theirs.eval()
    x = torch.randn(*input_shape)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=atol, rtol=atol)


def assert_trains_on_small_input(
    model: torch.nn.Module, image_size: int, in_channels: int, first_layer: torch.nn.Module
) -> None:
    """Two images give finite (2, 10) logits, and backward reaches the weight of ``first_layer``."""
    logits = model(torch.randn(2, in_channels, image_size, image_size))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    weight = first_layer.weight
    assert weight.grad is not None and weight.grad.abs().sum() > 0
