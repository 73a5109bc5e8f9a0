"""The end of a run's pictures and tables: plots/ and per_class.csv in the run directory.

Called by the run builder (``run.fit_and_test``, ``run.evaluate``) after the run's last evaluation pass: the
test pass, or the last validation when there is no test. What it writes comes from that pass:

* ``plots/<name>.png``: each image the pass logged to TensorBoard (``test/predictions`` -> predictions.png;
  sample grids of the generating tasks, detection and segmentation pictures...), kept by the loggers;
* whatever the task draws in ``save_figures`` (a classifier's labelled confusion matrices and PR curves);
* ``per_class.csv`` (the task's ``per_class_metrics``: a classifier's precision, recall, F1 and support per class,
  a segmenter's IoU, precision, recall and pixels, a detector's AP and AR) and the same table in the log.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from dltrain.engine.loggers import LoggerGroup
from dltrain.tasks.base import Task
from dltrain.visuals.figures import save_uint8_png

log = logging.getLogger(__name__)
MAX_TABLE_ROWS = 30  # classes printed in the log; per_class.csv has them all


def write_end_of_run(task: Task, loggers: LoggerGroup, run_dir: Path, last_prefix: str) -> None:
    """plots/ and per_class.csv from the pass whose metrics are named ``last_prefix/...`` (test or val)."""
    plots = run_dir / "plots"
    for tag, image in loggers.last_images.items():
        if tag.startswith(f"{last_prefix}/"):
            save_uint8_png(image, plots / f"{tag.removeprefix(last_prefix + '/').replace('/', '_')}.png")
    task.save_figures(plots)
    rows = task.per_class_metrics()
    if rows:
        write_per_class(rows, run_dir / "per_class.csv")
        log.info("per class (%s):\n%s", last_prefix, per_class_table(rows))


def write_per_class(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def per_class_table(rows: list[dict[str, Any]]) -> str:
    """The rows as aligned text: a name column, then numbers with 3 decimals (integers as they are)."""
    columns = list(rows[0])
    shown = rows[:MAX_TABLE_ROWS]

    def cell(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    cells = [columns] + [[cell(row[c]) for c in columns] for row in shown]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(text.ljust(w) if i == 0 else text.rjust(w) for i, (text, w) in enumerate(zip(line, widths)))
             for line in cells]
    if len(rows) > len(shown):
        lines.append(f"... {len(rows) - len(shown)} more classes in per_class.csv")
    return "\n".join(lines)
