"""Regression metrics over a whole pass: R^2, MAE, RMSE (and the mean squared error).

Six running sums (with the loss) are enough for all of them, so nothing is stored per sample
and the sums stay on the device until ``compute``:

    MAE  = sum |y - y_hat| / n
    RMSE = sqrt(sum (y - y_hat)^2 / n)
    R^2  = 1 - SSE / SST,   SSE = sum (y - y_hat)^2,   SST = sum y^2 - (sum y)^2 / n

R^2 is 1 for a perfect prediction and 0 for always predicting the mean.
"""
from __future__ import annotations

import math

import torch


class RegressionMetrics:
    summed_state = ("sums",)  # what DDP all-reduces

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # n, sum y, sum y^2, sum |e|, sum e^2, sum loss (float64: SST subtracts two large numbers)
        self.sums = torch.zeros(6, dtype=torch.float64)

    def update(self, prediction: torch.Tensor, target: torch.Tensor, loss: torch.Tensor | None = None) -> None:
        """Add a batch; ``loss`` (a batch mean, in the units the model trains in) is averaged as well."""
        if self.sums.device != prediction.device:
            self.sums = self.sums.to(prediction.device)
        y = target.detach().double().flatten()
        error = y - prediction.detach().double().flatten()
        n = y.new_tensor(float(y.numel()))
        batch_loss = loss.detach().double() if loss is not None else y.new_zeros(())
        self.sums += torch.stack([n, y.sum(), (y * y).sum(), error.abs().sum(), (error * error).sum(), batch_loss * n])

    def compute(self) -> dict[str, float]:
        n, sum_y, sum_y2, sum_abs, sse, loss_sum = self.sums.tolist()
        n_safe = max(n, 1.0)
        sst = sum_y2 - sum_y * sum_y / n_safe
        return {
            "loss": loss_sum / n_safe,
            "mse": sse / n_safe,
            "rmse": math.sqrt(sse / n_safe),
            "mae": sum_abs / n_safe,
            "r2": 1.0 - sse / sst if sst > 0 else float("nan"),
        }
