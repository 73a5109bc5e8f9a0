"""What the console shows while training: tqdm bars (rank 0 only) and the one line per epoch."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from tqdm.auto import tqdm


def bar(iterable: Iterable, enabled: bool, **options: Any) -> tqdm:
    """A progress bar; with ``enabled`` it still hides itself when the output is not a terminal."""
    return tqdm(iterable, disable=None if enabled else True, dynamic_ncols=True, **options)


def floats(logs: dict[str, Any]) -> dict[str, float]:
    """A task's extra step logs as plain numbers."""
    return {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in logs.items()}


def learning_rate_postfix(learning_rates: dict[str, float]) -> dict[str, str]:
    return {k.removeprefix("train/"): f"{v:.3g}" for k, v in learning_rates.items()}


def epoch_line(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k != "epoch")


def epoch_postfix(metrics: dict[str, float], monitor: str) -> dict[str, str]:
    keys = [k for k in ("train/loss_epoch", "val/loss", monitor) if k in metrics]
    return {k.split("/")[-1]: f"{metrics[k]:.4g}" for k in keys}
