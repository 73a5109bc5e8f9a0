"""Where metrics go: TensorBoard event files (<run>/tb) and metrics.csv (<run>).

Loggers are built from ``configs/logger``; the trainer hands each the run
directory in ``setup`` and calls only the methods below. ``LoggerGroup``
fans a call out to all of them, so tasks log images the same way whatever
loggers are on.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import torch


class Logger:
    def setup(self, run_dir: Path, resume_step: int | None = None) -> None:
        """Open the run's log; ``resume_step``: a resumed run, whose earlier logs after that step go."""
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None: ...
    def log_histogram(self, tag: str, values: torch.Tensor, step: int) -> None: ...
    def log_text(self, tag: str, text: str, step: int) -> None: ...
    def log_hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None: ...
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
        self.writer = SummaryWriter(log_dir=str(run_dir / self.subdir), purge_step=purge_step)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self.writer.add_image(tag, image, step)

    def log_histogram(self, tag: str, values: torch.Tensor, step: int) -> None:
        self.writer.add_histogram(tag, values.detach().float().cpu(), step)

    def log_text(self, tag: str, text: str, step: int) -> None:
        self.writer.add_text(tag, text, step)

    def log_hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """Write into this run's own event file, so the HPARAMS tab lines up with its scalars."""
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        clean = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
        finite = {f"hparams/{k}": v for k, v in metrics.items() if math.isfinite(v)}
        for summary in hparams_summary(clean, finite):
            self.writer.file_writer.add_summary(summary)
        for name, value in finite.items():
            self.writer.add_scalar(name, value, 0)

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
        self._columns: list[str] | None = None  # the header written; None: the next flush writes the whole file
        self._complete_rows = 0  # rows on disk that no later call can change...
        self._end_of_complete_rows = 0  # ...and the file position after them

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
        """Append the rows logged since the last flush; rewrite the file only when a new column appeared (the
        first validation, the test pass), so a flush costs the new rows, not the whole run's."""
        if self.path is None:  # the run stopped before its logs were opened
            return
        columns = ["step"] + sorted({k for row in self.rows for k in row} - {"step"})
        if columns == self._columns and self.path.is_file():
            with self.path.open("a", newline="") as handle:  # the last written row may have grown since: rewrite
                handle.seek(self._end_of_complete_rows)   # it and what follows
                handle.truncate()
                self._write(handle, columns, self.rows[self._complete_rows:], header=False)
            return
        temporary = self.path.with_suffix(".csv.tmp")
        with temporary.open("w", newline="") as handle:
            self._write(handle, columns, self.rows, header=True)
        temporary.replace(self.path)
        self._columns = columns

    def _write(self, handle: Any, columns: list[str], rows: list[dict[str, Any]], header: bool) -> None:
        writer = csv.DictWriter(handle, fieldnames=columns)
        if header:
            writer.writeheader()
        writer.writerows(rows[:-1])
        # the last row may still get values for its step (log_metrics of one step comes in several calls)
        self._complete_rows = len(self.rows) - 1 if self.rows else 0
        self._end_of_complete_rows = handle.tell()
        writer.writerows(rows[-1:])

    close = flush


class LoggerGroup(Logger):
    """All configured loggers behind one object."""

    def __init__(self, loggers: list[Logger]) -> None:
        self.loggers = list(loggers)

    def _each(self, method: str, *args: Any) -> None:
        for logger in self.loggers:
            getattr(logger, method)(*args)

    def setup(self, run_dir: Path, resume_step: int | None = None) -> None:
        self._each("setup", run_dir, resume_step)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self._each("log_metrics", metrics, step)

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self._each("log_image", tag, image, step)

    def log_histogram(self, tag: str, values: torch.Tensor, step: int) -> None:
        self._each("log_histogram", tag, values, step)

    def log_text(self, tag: str, text: str, step: int) -> None:
        self._each("log_text", tag, text, step)

    def log_hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        self._each("log_hparams", hparams, metrics)

    def flush(self) -> None:
        self._each("flush")

    def close(self) -> None:
        self._each("close")
