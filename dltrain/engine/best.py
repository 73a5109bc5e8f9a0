"""The best value of the monitored metric so far, the epoch it came from, and all metrics of that epoch.

The trainer keeps one ``BestScore`` for the task's monitored metric (``task.monitor``, ``task.monitor_mode``):
``best.ckpt`` is written when it improves, ``fit`` returns it, results.json reports it, TensorBoard's HPARAMS
tab shows the metrics of that epoch, and it is saved in every checkpoint so a resumed run continues the same
comparison.
"""
from __future__ import annotations

import math
from typing import Any


def improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Is ``value`` better than ``best`` by more than ``min_delta`` (``mode``: max or min)? NaN never is."""
    if best is None or not math.isfinite(best):
        return math.isfinite(value)
    return value > best + min_delta if mode == "max" else value < best - min_delta


class BestScore:
    def __init__(self, monitor: str, mode: str = "max") -> None:
        self.monitor, self.mode = monitor, mode
        self.value: float | None = None
        self.epoch: int | None = None  # 1-based: the epoch number the console shows
        self.step: int | None = None  # the optimizer step at that epoch's end
        self.metrics: dict[str, float] | None = None  # every metric of that epoch
        self.improved = False  # did the last update improve it?

    def update(self, metrics: dict[str, float], epoch: int, step: int | None = None) -> bool:
        """Take an epoch's metrics (``epoch`` 1-based); True when the monitored one improved."""
        self.improved = self.monitor in metrics and improved(metrics[self.monitor], self.value, self.mode)
        if self.improved:
            self.value, self.epoch, self.step = float(metrics[self.monitor]), epoch, step
            self.metrics = {k: float(v) for k, v in metrics.items()}
        return self.improved

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "value": self.value, "epoch": self.epoch, "step": self.step,
                "metrics": self.metrics}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("monitor", self.monitor) == self.monitor:  # a changed task.monitor starts a new comparison
            self.value, self.epoch = state["value"], state["epoch"]
            # checkpoints written before these were kept lack them: HPARAMS then shows the last epoch's metrics
            self.step, self.metrics = state.get("step"), state.get("metrics")
