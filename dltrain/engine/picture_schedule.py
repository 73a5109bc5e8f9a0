"""When the trainer draws pictures while it trains: every n-th validation, within a share of the training time.

A task's pictures (a classifier's labelled confusion matrix, sample grids, detections) cost far more than a point
of a curve: one labelled matplotlib figure takes ~0.5 s on a CPU, four epochs of the default MLP run. So they are
drawn at every ``every_n_validations``-th validation, and a due picture is skipped while drawing it would take the
time spent on pictures past ``time_share`` of the time trained so far (a run of a few seconds then draws none
before its test pass, which always draws, after the training). The last epoch's validation draws whatever the
budget when no test pass follows: the end-of-run pictures of plots/ come from it. Weight histograms, cheap, keep
the plain cadence (every n-th validation and the last epoch).

Only the steps at which TensorBoard shows pictures depend on the clock; the training and its metrics do not.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

COST_GUESS_S = 0.5  # one labelled matplotlib figure on the 2-core CPU: the estimate until a drawing is timed


class PictureSchedule:
    def __init__(self, every_n_validations: int, time_share: float | None, at_last_epoch: bool = True) -> None:
        self.every_n_validations, self.time_share, self.at_last_epoch = every_n_validations, time_share, at_last_epoch
        self.start()

    def start(self) -> None:
        """The clock of the training time starts (fit calls it, after its set-up)."""
        self.started, self.spent, self.drawings = time.perf_counter(), 0.0, 0

    def at_cadence(self, validation: int, last_epoch: bool) -> bool:
        """Every n-th validation and the last epoch (weight histograms); ``validation`` counts validations from 1,
        0 when the epoch does not validate."""
        return last_epoch or self.is_nth(validation)

    def due(self, validation: int, last_epoch: bool) -> bool:
        """Whether this epoch's validation draws the task's pictures."""
        return (last_epoch and self.at_last_epoch) or (self.is_nth(validation) and self.within_budget())

    def is_nth(self, validation: int) -> bool:
        return validation > 0 and validation % self.every_n_validations == 0

    def within_budget(self) -> bool:
        if self.time_share is None:
            return True
        cost = self.spent / self.drawings if self.drawings else COST_GUESS_S
        return self.spent + cost <= self.time_share * (time.perf_counter() - self.started)

    @contextlib.contextmanager
    def drawing(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.spent += time.perf_counter() - started
            self.drawings += 1
