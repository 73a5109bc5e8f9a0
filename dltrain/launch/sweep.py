"""Hydra callback: when a multirun ends, write ``summary.csv`` with one row per job.

Each job's row holds its overrides and the numbers of its ``results.json``
(best monitored metric and epoch, final validation and test metrics).

A job preempted in a process of its own (a SLURM array task under
``hydra/launcher=slurm``, a joblib worker) records ``preempted.json`` and
returns instead of exiting, so that the launcher still collects the other
jobs: its row has status ``preempted`` and the command that resumes it, and
the sweep exits with the preemption status (75) once the summary is written.
Under the default sequential launcher the signal is the whole sweep's: the
job exits at once, as a single run does.

A job that fails (a user mistake such as a loss that diverges at its learning
rate, or a bug) records ``failed.json`` with its one-sentence error and
returns under every launcher: its row has status ``failed`` and the error, the
other jobs run to their end, and the sweep exits 1 once the summary is written.
Every other row has status ``finished``.
"""
from __future__ import annotations

import csv
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

PREEMPTED_FILE = "preempted.json"
FAILED_FILE = "failed.json"
FAILED_EXIT_CODE = 1  # a sweep with failed jobs ends non-zero, after its summary


def is_sweep_job(hydra_cfg: DictConfig) -> bool:
    from hydra.types import RunMode

    return hydra_cfg.mode == RunMode.MULTIRUN


def record_failure(job_dir: Path, message: str) -> None:
    """Leave a failed job's one-sentence error where the sweep's summary looks; the sweep goes on."""
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / FAILED_FILE).write_text(json.dumps({"error": message}))
    log.error("dltrain: error: %s; the sweep goes on with its other jobs", message)


def job_reports_back(hydra_cfg: DictConfig) -> bool:
    """True for a sweep job that runs in a process of its own and returns its result to the sweep's process."""
    from hydra.types import RunMode

    return hydra_cfg.mode == RunMode.MULTIRUN and "BasicLauncher" not in str(hydra_cfg.launcher.get("_target_", ""))


def record_preemption(job_dir: Path, message: str, checkpoint: Path | None) -> None:
    """Leave the preempted job's message and checkpoint where the sweep's summary looks."""
    (job_dir / PREEMPTED_FILE).write_text(json.dumps({"message": message, "checkpoint": checkpoint and str(checkpoint)}))
    log.warning("%s; the sweep goes on with its other jobs", message)


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
        failed = [row for row in rows if row.get("status") == "failed"]
        for row in failed:
            log.error("job %s failed: %s", row["job"], row["error"])
        preempted = [row for row in rows if row.get("status") == "preempted"]
        if failed:
            sys.exit(FAILED_EXIT_CODE)
        if preempted:
            from dltrain.engine.preemption import PREEMPTED_EXIT_CODE

            for row in preempted:
                log.warning("job %s was preempted; resume it with: %s", row["job"], row["resume"])
            sys.exit(PREEMPTED_EXIT_CODE)


def _job_number(path: Path) -> tuple[int, str]:
    return (int(path.name), "") if path.name.isdigit() else (10**9, path.name)


def _job_row(job_dir: Path) -> dict[str, Any] | None:
    results_file, overrides_file = job_dir / "results.json", job_dir / ".hydra" / "overrides.yaml"
    if not job_dir.is_dir() or not overrides_file.exists():
        return None
    overrides = list(OmegaConf.load(overrides_file))
    row: dict[str, Any] = {"job": job_dir.name, "overrides": " ".join(overrides)}
    if (job_dir / FAILED_FILE).exists():
        row["status"] = "failed"
        row["error"] = json.loads((job_dir / FAILED_FILE).read_text())["error"]
    elif (job_dir / PREEMPTED_FILE).exists():
        checkpoint = json.loads((job_dir / PREEMPTED_FILE).read_text())["checkpoint"]
        row["status"] = "preempted"  # the command quoted for a shell: overrides may hold [lists] or spaces
        row["resume"] = shlex.join(["dltrain", *overrides, f"ckpt_path={checkpoint}"]) if checkpoint else \
            "start it again (trainer.enable_checkpointing=false: nothing was saved)"
    elif results_file.exists():
        results = json.loads(results_file.read_text())
        row["status"] = "finished"
        row.update({"monitor": results.get("monitor"), "best": results.get("best"),
                    "best_epoch": results.get("best_epoch")})
        for section in ("final", "test"):
            row.update({k: v for k, v in (results.get(section) or {}).items() if "/" in k})
    else:
        row["status"] = "failed"
    return row
