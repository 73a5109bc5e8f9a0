"""Where metrics go: TensorBoard event files (<run>/tb) and metrics.csv (<run>).

Loggers are built from ``configs/logger``; the trainer hands each the run
directory in ``setup`` and calls only the methods below. ``LoggerGroup``
fans a call out to all of them, so tasks log images the same way whatever
loggers are on, and keeps the last image of each tag: the run builder writes
those of the run's last pass into plots/ (dltrain/launch/figures.py).

TensorBoard's layout: SCALARS holds the train/, val/ and test/ sections only
(the learning rate is ``train/lr``; the ``epoch`` counter of the metrics is
for metrics.csv and is not a TensorBoard scalar, whose x-axis is the step).
HPARAMS gets one row per run, written once at its end into a sub-run of tb/
named after the command-line overrides (``tb/optimizer=adam,optimizer.lr=0.01``):
its hyperparameters are the keys the command line or the sweep set, its metric
values the best epoch's (as single points at that epoch's step, under the
same tags as the curves, so no ``hparams/`` cards are added).
"""
from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path
from typing import Any

import torch

NOT_TENSORBOARD_SCALARS = frozenset({"epoch"})  # a counter against the step, not a curve worth a card


class Logger:
    def setup(self, run_dir: Path, resume_step: int | None = None) -> None:
        """Open the run's log; ``resume_step``: a resumed run, whose earlier logs after that step go."""
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None: ...
    def log_histogram(self, tag: str, values: torch.Tensor, step: int) -> None: ...
    def log_text(self, tag: str, text: str, step: int) -> None: ...
    def log_pr_curve(self, tag: str, counts: dict[str, torch.Tensor], step: int) -> None:
        """A precision-recall curve from counts per threshold (``true_positives``, ``false_positives``,
        ``true_negatives``, ``false_negatives``; thresholds i / (T-1))."""
    def log_hparams(self, hparams: dict[str, Any], metrics: dict[str, float], run_name: str, step: int) -> None:
        """One HPARAMS row: ``hparams`` (what the command line set), ``metrics`` (the best epoch's, at ``step``),
        named ``run_name``."""
    def flush(self) -> None: ...
    def close(self) -> None: ...


class TensorBoardLogger(Logger):
    def __init__(self, subdir: str = "tb") -> None:
        self.subdir = subdir
        self.writer = None

    def setup(self, run_dir: Path, resume_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # events of steps after a resumed checkpoint (written before a kill) are dropped: TensorBoard shows one run
        purge_step = None if resume_step is None else resume_step + 1
        self.log_dir = run_dir / self.subdir
        self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for name, value in metrics.items():
            if name not in NOT_TENSORBOARD_SCALARS:
                self.writer.add_scalar(name, value, step)

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self.writer.add_image(tag, image, step)

    def log_histogram(self, tag: str, values: torch.Tensor, step: int) -> None:
        self.writer.add_histogram(tag, values.detach().float().cpu(), step)

    def log_text(self, tag: str, text: str, step: int) -> None:
        self.writer.add_text(tag, text, step)

    def log_pr_curve(self, tag: str, counts: dict[str, torch.Tensor], step: int) -> None:
        tp, fp = counts["true_positives"].double(), counts["false_positives"].double()
        fn = counts["false_negatives"].double()
        precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp(min=1), 1.0)  # no prediction: nothing wrong
        recall = tp / (tp + fn).clamp(min=1)
        self.writer.add_pr_curve_raw(tag, tp, fp, counts["true_negatives"].double(), fn, precision, recall, step,
                                     num_thresholds=tp.numel())

    def log_hparams(self, hparams: dict[str, Any], metrics: dict[str, float], run_name: str, step: int) -> None:
        """A sub-run of tb/ holding the HPARAMS session and its metric values. TensorBoard reads a session's metric
        values from the last scalars of its run; in this run's own folder they would be the last epoch's."""
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        for old in self.log_dir.iterdir():  # a continued run with other overrides: one HPARAMS row, the latest
            if old.is_dir():
                shutil.rmtree(old)
        clean = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
        finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
        with SummaryWriter(log_dir=str(self.log_dir / run_name)) as writer:
            for summary in hparams_summary(clean, finite):
                writer.file_writer.add_summary(summary)
            for name, value in finite.items():
                writer.add_scalar(name, value, step)

    def flush(self) -> None:
        if self.writer is not None:  # None: the run stopped before its logs were opened
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class CSVLogger(Logger):
    """metrics.csv: one row per logged step (train) or epoch (val); a column per metric."""

    def __init__(self, filename: str = "metrics.csv") -> None:
        self.filename = filename
        self.rows: list[dict[str, Any]] = []
        self.path: Path | None = None

    def setup(self, run_dir: Path, resume_step: int | None = None) -> None:
        self.path = run_dir / self.filename
        if resume_step is not None and self.path.is_file():  # a resumed run keeps the rows up to its checkpoint
            with self.path.open(newline="") as handle:
                self.rows = [row for row in csv.DictReader(handle) if float(row["step"]) <= resume_step]
            for row in self.rows:
                row["step"] = int(float(row["step"]))

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self.rows and self.rows[-1]["step"] == step:  # several calls for one step share a row
            self.rows[-1].update(metrics)
        else:
            self.rows.append({"step": step, **metrics})

    def flush(self) -> None:
        if self.path is None:  # the run stopped before its logs were opened
            return
        columns = ["step"] + sorted({k for row in self.rows for k in row} - {"step"})
        temporary = self.path.with_suffix(".csv.tmp")
        with temporary.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        temporary.replace(self.path)

    close = flush


class LoggerGroup(Logger):
    """All configured loggers behind one object; it keeps the last image logged under each tag."""

    def __init__(self, loggers: list[Logger]) -> None:
        self.loggers = list(loggers)
        self.last_images: dict[str, torch.Tensor] = {}

    def _each(self, method: str, *args: Any) -> None:
        for logger in self.loggers:
            getattr(logger, method)(*args)

    def setup(self, run_dir: Path, resume_step: int | None = None) -> None:
        self._each("setup", run_dir, resume_step)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self._each("log_metrics", metrics, step)

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self.last_images[tag] = image
        self._each("log_image", tag, image, step)

    def log_histogram(self, tag: str, values: torch.Tensor, step: int) -> None:
        self._each("log_histogram", tag, values, step)

    def log_text(self, tag: str, text: str, step: int) -> None:
        self._each("log_text", tag, text, step)

    def log_pr_curve(self, tag: str, counts: dict[str, torch.Tensor], step: int) -> None:
        self._each("log_pr_curve", tag, counts, step)

    def log_hparams(self, hparams: dict[str, Any], metrics: dict[str, float], run_name: str, step: int) -> None:
        self._each("log_hparams", hparams, metrics, run_name, step)

    def flush(self) -> None:
        self._each("flush")

    def close(self) -> None:
        self._each("close")
