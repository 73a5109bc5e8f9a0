"""Model facts for the start-of-run summary: parameters and FLOPs / MACs per sample.

FLOPs come from ``torch.utils.flop_counter`` on one sample (one multiply-add
counts as two FLOPs, as the notes count it; MACs = FLOPs / 2). PyTorch's
counter knows the CUDA kernels of ``scaled_dot_product_attention`` but not the
CPU one, which it then counts as zero; the same formula is registered for it
below, so attention models are not under-reported on the CPU (tested against
ViT-B/16's analytic count).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

log = logging.getLogger(__name__)

_CPU_ATTENTION = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
if _CPU_ATTENTION not in flop_counter.flop_registry:  # QK^T and (softmax)V: two batched matrix products
    flop_counter.register_flop_formula(_CPU_ATTENTION)(
        lambda query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs:
        flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape))


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


def log_summary(task: Any, batch: Any, trainer: Any) -> dict[str, int]:
    """Log the start-of-run summary (model, compute, device, run dir); returns parameters and FLOPs."""
    total, trainable = count_parameters(task.model)
    flops = count_flops(lambda: task.example_forward(batch), task.model)
    lines = [
        f"model      {type(task.model).__name__}: {total:,} parameters ({trainable:,} trainable)",
        f"compute    {human(flops)}FLOPs = {human(flops / 2)}MACs per sample (forward)",
        f"device     {trainer.device}, precision {trainer.precision}"
        + (", compiled" if trainer.compile else "") + (", channels_last" if trainer.channels_last else ""),
        f"run dir    {trainer.run_dir}",
    ]
    for line in lines:
        log.info(line)
    return {"params": total, "trainable_params": trainable, "flops_per_sample": flops}
