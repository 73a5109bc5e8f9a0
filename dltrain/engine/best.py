"""The best value of the monitored metric so far, and the epoch it came from.

The trainer keeps one ``BestScore`` for the task's monitored metric (``task.monitor``, ``task.monitor_mode``):
``best.ckpt`` is written when it improves, ``fit`` returns it, results.json reports it, and it is saved in
every checkpoint so a resumed run continues the same comparison.
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
        self.improved = False  # did the last update improve it?

    def update(self, metrics: dict[str, float], epoch: int) -> bool:
        """Take an epoch's metrics (``epoch`` 1-based); True when the monitored one improved."""
        self.improved = self.monitor in metrics and improved(metrics[self.monitor], self.value, self.mode)
        if self.improved:
            self.value, self.epoch = float(metrics[self.monitor]), epoch
        return self.improved

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "value": self.value, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("monitor", self.monitor) == self.monitor:  # a changed task.monitor starts a new comparison
            self.value, self.epoch = state["value"], state["epoch"]
