"""x' = (x - mean) / std, with the statistics of the training rows only.

Statistics of the validation or test rows would leak into training, so a data module fits a
``Standardizer`` on its training split and applies it to every split. One statistic is kept per entry of
axis 1: per feature for a table (N, F), per channel for signals (N, C, L) and images (N, C, H, W).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


class Standardizer:
    """Fitted on ``rows`` (N, F | C, ...); or, with ``mean`` and ``std``, the numbers of an earlier fit."""

    def __init__(self, rows: torch.Tensor | None = None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        if rows is not None:
            rows = rows.double()  # sums over many rows in float32 lose digits; the numbers are stored
            over = [d for d in range(rows.dim()) if d != 1]
            mean, std = rows.mean(dim=over), rows.std(dim=over)
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.std = torch.as_tensor(std, dtype=torch.float32).clamp(min=1e-8)  # a constant column stays 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = [1, -1] + [1] * (x.dim() - 2)  # broadcast along axis 1
        return (x - self.mean.view(shape)) / self.std.view(shape)
