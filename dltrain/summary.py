"""Model facts for the start-of-run summary: parameters and FLOPs / MACs per sample.

FLOPs come from ``torch.utils.flop_counter`` on one sample (one multiply-add
counts as two FLOPs, as the notes count it; MACs = FLOPs / 2).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(all parameters, trainable parameters)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


@torch.no_grad()
def count_flops(forward: Callable[[], Any], model: nn.Module) -> int:
    """FLOPs of one call of ``forward`` (the task's one-sample forward), with ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            forward()
    finally:
        model.train(was_training)
    return counter.get_total_flops()


def human(number: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if abs(number) < 1000:
            return f"{number:.3g}{unit}"
        number /= 1000
    return f"{number:.3g}P"
