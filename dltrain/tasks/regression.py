"""Regression: one real number per sample, squared-error training, R^2 / MAE / RMSE.

The tabular data module standardises the target with training statistics;
the model predicts in those units and the loss is computed there. Metrics are
reported in the dataset's own units: predictions and targets are mapped back,
y = y' * std + mean, with the ``target_mean`` / ``target_std`` that
``check_data`` reads from the data module (1 and 0 when it has none).

The root config's default loss is cross-entropy, which means nothing for a
real-valued target; the task then uses MSE. A regression loss picked on the
command line (``loss=l1``, ``loss=huber``, ``loss=smooth_l1``) is used as given.
"""
from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.metrics.regression import RegressionMetrics
from dltrain.predict.records import Prediction, SampleBatch
from dltrain.tasks.base import Task

log = logging.getLogger(__name__)
REGRESSION_LOSSES = (nn.MSELoss, nn.L1Loss, nn.HuberLoss, nn.SmoothL1Loss)


class RegressionTask(Task):
    distributed_metrics = ("metrics",)  # DDP shards evaluation and reduces these (dltrain/engine/distributed.py)
    predict_inputs = "required"  # mode=predict: the value of each example of a data file (data=arrays, csv)

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        name: str = "regression",
        monitor: str = "val/rmse",
        monitor_mode: str = "min",
    ) -> None:
        super().__init__(model, name, monitor, monitor_mode)
        if not isinstance(loss, REGRESSION_LOSSES):
            log.info("regression uses MSE (the configured loss %s is not a regression loss)", type(loss).__name__)
            loss = nn.MSELoss()
        self.loss_fn = loss
        self.metrics = RegressionMetrics()
        self.target_mean, self.target_std = 0.0, 1.0

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        features, target = batch
        return self.loss_fn(self.model(features), target)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        features, target = batch
        prediction = self.model(features).float()
        loss = self.loss_fn(prediction, target)
        self.metrics.update(self.to_data_units(prediction), self.to_data_units(target), loss)

    def to_data_units(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.target_std + self.target_mean

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        values = self.metrics.compute()
        return {f"{prefix}/{k}": v for k, v in values.items()}

    def reset_metrics(self) -> None:
        self.metrics.reset()

    def predict_step(self, batch: SampleBatch, options: Any) -> list[Prediction]:
        values = self.to_data_units(self.model(batch.model_inputs).float())
        return [Prediction(name, {**batch.describe(index), "prediction": round(float(values[index]), 6)})
                for index, name in enumerate(batch.names)]

    def check_data(self, data: Any) -> None:
        if getattr(data, "kind", None) != "regression":
            raise UserError(
                f"The regression task needs a regression dataset, and {type(data).__name__} is not one; "
                "pick data=diabetes or data=california_housing (or your own data with real-valued targets)."
            )
        self.target_mean, self.target_std = data.target_mean, data.target_std
