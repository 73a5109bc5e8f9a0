"""Model facts for the start-of-run summary: parameters and FLOPs / MACs per sample.

FLOPs come from ``torch.utils.flop_counter`` on one sample (one multiply-add
counts as two FLOPs, as the notes count it; MACs = FLOPs / 2).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(all parameters, trainable parameters)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def first_sample(example: Any) -> Any:
    """The first sample of a batched input, keeping its batch dimension."""
    if isinstance(example, torch.Tensor):
        return example[:1]
    if isinstance(example, dict):
        return {k: first_sample(v) for k, v in example.items()}
    if isinstance(example, (list, tuple)):
        return type(example)(first_sample(v) for v in example)
    return example


@torch.no_grad()
def count_flops(model: nn.Module, example: Any) -> int:
    """Forward FLOPs of the model on one sample of ``example`` (eval mode)."""
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(first_sample(example))
    finally:
        model.train(was_training)
    return counter.get_total_flops()


def human(number: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if abs(number) < 1000:
            return f"{number:.3g}{unit}"
        number /= 1000
    return f"{number:.3g}P"
