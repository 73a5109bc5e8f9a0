"""Hydra callback: when a multirun ends, write ``summary.csv`` with one row per job.

Each job's row holds its overrides and the numbers of its ``results.json``
(best monitored metric and epoch, final validation and test metrics).
"""
from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = [row for job_dir in sorted(sweep_dir.iterdir(), key=_job_number) if (row := _job_row(job_dir))]
        if not rows:
            return
        columns = list(dict.fromkeys(key for row in rows for key in row))
        with (sweep_dir / "summary.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        log.info("sweep summary: %s", sweep_dir / "summary.csv")


def _job_number(path: Path) -> tuple[int, str]:
    return (int(path.name), "") if path.name.isdigit() else (10**9, path.name)


def _job_row(job_dir: Path) -> dict[str, Any] | None:
    results_file, overrides_file = job_dir / "results.json", job_dir / ".hydra" / "overrides.yaml"
    if not job_dir.is_dir() or not overrides_file.exists():
        return None
    row: dict[str, Any] = {"job": job_dir.name, "overrides": " ".join(OmegaConf.load(overrides_file))}
    if results_file.exists():
        results = json.loads(results_file.read_text())
        row.update({"monitor": results.get("monitor"), "best": results.get("best"),
                    "best_epoch": results.get("best_epoch")})
        for section in ("final", "test"):
            row.update({k: v for k, v in (results.get(section) or {}).items() if "/" in k})
    else:
        row["status"] = "failed"
    return row
