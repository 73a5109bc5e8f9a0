"""Where metrics go: TensorBoard event files (<run>/tb), metrics.csv (epochs) and metrics_steps.csv (steps).

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
import io
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch

NOT_TENSORBOARD_SCALARS = frozenset({"epoch"})  # a counter against the step, not a curve worth a card
# equal-width buckets per histogram, as TensorFlow 2's tf.summary.histogram writes (TensorBoard redraws any
# histogram in about 30 bins): torch's default, TensorFlow 1's ~1,500 exponential edges, makes a 10-KB event that
# the `tensorboard` package checksums in pure Python: 4 ms per weight tensor, most of a small model's epoch
HISTOGRAM_BINS = 30


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
        from tensorboard.compat.proto.summary_pb2 import Summary

        # one event holds the call's scalars (add_scalar writes an event per scalar, each built and framed alone:
        # a validation's ten metrics cost 2 ms of an MLP's 70-ms epoch); TensorBoard reads them the same way
        values = [Summary.Value(tag=name, simple_value=float(value)) for name, value in metrics.items()
                  if name not in NOT_TENSORBOARD_SCALARS]
        if values:
            self.writer.file_writer.add_summary(Summary(value=values), step)

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self.writer.add_image(tag, image, step)

    def log_histogram(self, tag: str, values: torch.Tensor, step: int) -> None:
        self.writer.add_histogram(tag, values.detach().float().cpu(), step, bins=HISTOGRAM_BINS)

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
    """Two tables in the run directory, a column per metric:

    * ``metrics.csv``: one row per epoch (``epoch`` 1-based, as the console counts, and ``step``, the optimizer
      steps taken when it ended): the training loss of the epoch, the validation metrics, the epoch's time;
    * ``metrics_steps.csv``: one row per logged step (``trainer.log_every_n_steps``): train/loss, lr.

    The trainer marks an epoch's metrics with an ``epoch`` key; everything else it logs is a step's. Test metrics
    are results.json's, not a curve, so they stay out of both tables.
    """

    def __init__(self, filename: str = "metrics.csv", steps_filename: str = "metrics_steps.csv") -> None:
        self.filename, self.steps_filename = filename, steps_filename
        self.epochs: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.folder: Path | None = None
        self.tables: list[CsvTable] = []

    def setup(self, run_dir: Path, resume_step: int | None = None) -> None:
        self.folder = Path(run_dir)
        if resume_step is not None:
            # a run resumed in its own directory keeps the rows up to its checkpoint: the epochs it had completed
            # (an epoch row's step is where that epoch ended) and the logged steps it had taken
            self.epochs = [row for row in self._read(self.filename) if row["step"] <= resume_step]
            self.steps = [row for row in self._read(self.steps_filename) if row["step"] <= resume_step]
        self.tables = [CsvTable(self.folder / self.filename, ["epoch", "step"], self.epochs),
                       CsvTable(self.folder / self.steps_filename, ["step"], self.steps)]

    def _read(self, name: str) -> list[dict[str, Any]]:
        path = self.folder / name
        if not path.is_file():
            return []
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            row["step"] = int(float(row["step"]))
            if "epoch" in row:
                row["epoch"] = int(float(row["epoch"]))
        return rows

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if "epoch" in metrics:
            self.epochs.append({"epoch": int(metrics["epoch"]), "step": step,
                                **{k: v for k, v in metrics.items() if k != "epoch"}})
        elif all(name.startswith("test/") for name in metrics):
            return
        elif self.steps and self.steps[-1]["step"] == step:  # several calls for one step share a row (loss, lr)
            self.steps[-1].update(metrics)
        else:
            self.steps.append({"step": step, **metrics})

    def flush(self) -> None:
        for table in self.tables:  # none when the run stopped before its logs were opened
            table.flush()

    close = flush


class CsvTable:
    """A CSV file of ``rows`` (a list its owner appends to), written flush by flush: the rows added since the last
    flush are appended, and the whole file is rewritten (atomically) only when a column appears, such as the
    first validation's; so a flush costs the new rows, not the whole run's. The last row may still grow (one
    step's values come in several calls): it is written again at the next flush. No file is made without rows
    (a run that failed before its first epoch leaves no empty table behind)."""

    def __init__(self, path: Path, first: list[str], rows: list[dict[str, Any]]) -> None:
        self.path, self.first, self.rows = path, first, rows
        self._columns: list[str] | None = None  # the header on disk; None: the next flush writes the whole file
        self._settled = 0  # rows on disk that cannot change any more...
        self._settled_end = 0  # ...and the file position after them

    def flush(self) -> None:
        if not self.rows and not self.path.exists():
            return
        columns = self.first + sorted({k for row in self.rows for k in row} - set(self.first))
        rewrite = columns != self._columns or not self.path.is_file()
        start = 0 if rewrite else self._settled
        last = max(len(self.rows) - 1, start)  # the last row may still grow: written again at the next flush
        settled, tail = csv_bytes(columns, self.rows[start:last]), csv_bytes(columns, self.rows[last:])
        if rewrite:
            header = csv_bytes(columns, [], header=True)
            temporary = self.path.with_suffix(".csv.tmp")
            temporary.write_bytes(header + settled + tail)
            temporary.replace(self.path)
            self._columns, self._settled_end = columns, len(header)
        else:
            # the new rows in one write over the old tail, then the truncate: a kill between the two calls keeps
            # every row that was on disk (the new text starts with them, grown, never shorter); truncating first,
            # as before, let a kill in between lose the last row (tests/test_checkpoint_writes.py caught it)
            with self.path.open("r+b") as handle:
                os.pwrite(handle.fileno(), settled + tail, self._settled_end)
                handle.truncate(self._settled_end + len(settled) + len(tail))
        self._settled, self._settled_end = last, self._settled_end + len(settled)


def csv_bytes(columns: list[str], rows: list[dict[str, Any]], header: bool = False) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()


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
