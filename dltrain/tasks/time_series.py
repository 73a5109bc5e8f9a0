"""Time-series regression: predict the next value from a window of the previous ``tau``.

Batches are ``(window (B, tau), future (B, horizon))`` (``dltrain.data.tabular.time_series``);
the model maps a window to one value (B,). Training minimises the mean squared
error of the 1-step prediction (the ``loss`` group is not used).

At validation the model also predicts k steps ahead by feeding its own
predictions back in (the notes' k-step-ahead prediction): the window slides
by one, its oldest value drops out and the newest *prediction* comes in.
Errors compound, so ``mse_k`` grows with k; the gap between ``mse_1`` and
``mse_64`` shows how far the model can see. Metrics, exact over the pass:
``loss`` (= ``mse_1``), ``mse_k`` for k in ``horizons``, and ``variance`` of the
targets (the MSE of always predicting their mean: a baseline).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.errors import UserError
from dltrain.tasks.base import Task


def k_step_predictions(model: nn.Module, window: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, tau) observed window -> (B, steps): prediction i uses predictions 0..i-1 as inputs."""
    predictions = []
    for _ in range(steps):
        prediction = model(window)
        predictions.append(prediction)
        window = torch.cat([window[:, 1:], prediction.unsqueeze(1).to(window.dtype)], dim=1)
    return torch.stack(predictions, dim=1)


class TimeSeriesTask(Task):
    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        name: str = "time_series",
        monitor: str = "val/mse_1",
        monitor_mode: str = "min",
        horizons: Sequence[int] = (1, 4, 16, 64),
    ) -> None:
        super().__init__(model, name, monitor, monitor_mode)
        self.horizons = sorted(int(k) for k in horizons)
        self.reset_metrics()

    def reset_metrics(self) -> None:
        self._squared = {k: torch.zeros((), dtype=torch.float64) for k in self.horizons}
        self._target_sum = torch.zeros((), dtype=torch.float64)
        self._target_squares = torch.zeros((), dtype=torch.float64)
        self._count = 0

    def check_data(self, data: Any) -> None:
        horizon = getattr(data, "max_horizon", None)
        if horizon is None or getattr(data, "tau", None) is None:
            raise UserError(f"The time-series task needs a series data module (data=sine), not {type(data).__name__}.")
        if self.horizons[-1] > horizon:
            raise UserError(f"task.horizons reach {self.horizons[-1]} steps but data.max_horizon={horizon}; "
                            "raise data.max_horizon or drop the longer horizons.")

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        window, future = batch
        return F.mse_loss(self.model(window), future[:, 0])

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        window, future = batch
        predictions = k_step_predictions(self.model, window, self.horizons[-1]).double()
        future = future.double()
        for k in self.horizons:
            error = ((predictions[:, k - 1] - future[:, k - 1]) ** 2).sum()
            self._squared[k] = self._squared[k].to(error.device) + error
        first = future[:, 0]
        self._target_sum = self._target_sum.to(first.device) + first.sum()
        self._target_squares = self._target_squares.to(first.device) + (first**2).sum()
        self._count += len(first)

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        count = max(self._count, 1)
        metrics = {f"{prefix}/mse_{k}": self._squared[k].item() / count for k in self.horizons}
        mean = self._target_sum.item() / count
        metrics[f"{prefix}/variance"] = self._target_squares.item() / count - mean**2
        metrics[f"{prefix}/loss"] = metrics[f"{prefix}/mse_{self.horizons[0]}"]
        return metrics
