"""``dltrain runs [DIR]``: a table of the runs under DIR (outputs/ by default), and ``--compare`` to draw their
curves into one PNG.

    dltrain runs                                  every run: date, model_data, status, epochs, best, overrides
    dltrain runs --model resnet18 --data cifar10  only those (shell-style patterns: --model 'resnet*')
    dltrain runs --sort best                      best first (by each run's monitored metric); also date, epochs,
                                                  status, run, path
    dltrain runs --compare RUN_A RUN_B            their loss / metric / lr curves in one PNG (its path is printed)

A run is a folder with ``.hydra/overrides.yaml`` (single runs and sweep jobs). Its status:

* ``finished``  results.json is there (cv_summary.json for ``cv.folds=K``: its best is the folds' mean);
* ``running``   its lock (``.running.json``, dltrain/launch/run_lock.py) names a live process;
* ``failed``    a sweep job's failed.json, or a command that ended in an error (its train.log says so), or a run
                that left neither results nor a checkpoint;
* ``preempted`` stopped by a signal (SIGTERM / SIGUSR1 / Ctrl-C: train.log says so, or a sweep job's
                preempted.json): ``ckpt_path=last`` continues it;
* ``stopped``   ended without a word (killed, crashed) after writing a checkpoint: ``ckpt_path=last`` continues it.

Evaluations (``eval_*`` / ``predict_*`` folders inside runs) and ``outputs/debug/`` (trainer=debug) are not
listed unless DIR points into them. Everything here reads text files (YAML, JSON, CSV) and never imports torch,
so the table answers at once (``dltrain/cli.py`` dispatches here before Hydra starts).
"""
from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from dltrain.errors import UserError
from dltrain.launch.run_lock import running_process
from dltrain.visuals import results_plot

CV_SUMMARY = "cv_summary.json"  # what a cross-validated run writes instead of results.json (launch/cross_validation.py)
SORT_KEYS = ("date", "run", "status", "epochs", "best", "path")
NAMED_FOLDER = re.compile(r"^(\d{4}-\d{2}-\d{2})_(\d{2})-(\d{2})-(\d{2})")
PREEMPTED_IN_LOG = ("; resume with ckpt_path=last", "dltrain: interrupted (Ctrl-C)")


@dataclass
class Run:
    path: Path
    date: str
    task: str            # model_data: the folder the run is grouped in
    model: str
    data: str
    overrides: list[str]
    status: str
    epochs: int
    monitor: str
    best: float | None
    best_epoch: int | None
    lower_is_better: bool = False


# ------------------------------------------------------------------ reading runs
def find_runs(root: Path) -> list[Path]:
    """Run folders under ``root`` (``root`` itself when it is one), eval / predict / debug folders left out."""
    if (root / ".hydra" / "overrides.yaml").is_file():
        return [root]
    found = []
    for overrides in sorted(root.rglob(".hydra/overrides.yaml")):
        folder = overrides.parent.parent
        inside = folder.relative_to(root).parts
        if any(part.startswith(("eval_", "predict_")) or part == "debug" for part in inside):
            continue
        found.append(folder)
    return found


def read_run(folder: Path, root: Path) -> Run:
    hydra = _yaml(folder / ".hydra" / "hydra.yaml").get("hydra", {})
    config = _yaml(folder / ".hydra" / "config.yaml")
    choices = (hydra.get("runtime") or {}).get("choices") or {}
    overrides = [str(o) for o in (_yaml(folder / ".hydra" / "overrides.yaml") or [])]
    results = _json(folder / "results.json") or _cross_validation_results(folder)
    epochs = results_plot.read_rows(folder / "metrics.csv")
    task = config.get("task") if isinstance(config.get("task"), dict) else {}
    monitor = str(results.get("monitor") or task.get("monitor") or "")
    lower = str(task.get("monitor_mode", "max")) == "min" or (monitor.endswith("loss") and "monitor_mode" not in task)
    best, best_epoch = results.get("best"), results.get("best_epoch")
    if best is None and monitor:  # not finished: the best epoch so far, from metrics.csv
        best, best_epoch = _best_of(epochs, monitor, lower)
    done = max(_epochs_done(epochs), int((results.get("final") or {}).get("epoch") or 0))  # logger=none: results'
    return Run(path=folder, date=_date(folder), task=_task_folder(folder, root), model=str(choices.get("model", "")),
               data=str(choices.get("data", "")), overrides=overrides, status=status_of(folder), epochs=done,
               monitor=monitor, best=best, best_epoch=best_epoch, lower_is_better=lower)


def _cross_validation_results(folder: Path) -> dict:
    """A cv.folds=K run's numbers: the mean best over its folds (cv_summary.json; each fold has its results.json)."""
    summary = _json(folder / CV_SUMMARY)
    return {"best": summary["best/mean"]} if "best/mean" in summary else {}


def status_of(folder: Path) -> str:
    if (folder / "results.json").is_file() or (folder / CV_SUMMARY).is_file():
        return "finished"
    if running_process(folder):
        return "running"
    if (folder / "failed.json").is_file():
        return "failed"
    if (folder / "preempted.json").is_file():
        return "preempted"
    log = _text(folder / "train.log")
    if "dltrain: error:" in log:
        return "failed"
    if any(mark in log for mark in PREEMPTED_IN_LOG):
        return "preempted"
    return "stopped" if (folder / "checkpoints" / "last.ckpt").is_file() else "failed"


def _best_of(rows: list[dict[str, str]], monitor: str, lower: bool) -> tuple[float | None, int | None]:
    scored = [(float(row[monitor]), int(float(row["epoch"]))) for row in rows
              if row.get(monitor) and row.get("epoch") and math.isfinite(float(row[monitor]))]
    if not scored:
        return None, None
    value, epoch = (min if lower else max)(scored, key=lambda pair: pair[0])
    return value, epoch


def _epochs_done(rows: list[dict[str, str]]) -> int:
    numbers = [int(float(row["epoch"])) for row in rows if row.get("epoch")]
    return max(numbers, default=0)


def _date(folder: Path) -> str:
    """When the run started: its folder's name (a sweep job: its sweep's), else the folder's time."""
    for name in (folder.name, folder.parent.name):
        match = NAMED_FOLDER.match(name)
        if match:
            day, hours, minutes, seconds = match.groups()
            return f"{day} {hours}:{minutes}:{seconds}"
    stamp = datetime.datetime.fromtimestamp((folder / ".hydra").stat().st_mtime)
    return f"{stamp:%Y-%m-%d %H:%M:%S}"


def _task_folder(folder: Path, root: Path) -> str:
    """The model_data folder a run is grouped in (outputs/<task_name>/...)."""
    try:
        parts = folder.resolve().relative_to(root.resolve()).parts
    except ValueError:  # a run named by --compare from elsewhere
        parts = ()
    return parts[0] if len(parts) > 1 else folder.parent.name


def _yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# ------------------------------------------------------------------ the table
def select(runs: list[Run], model: str | None, data: str | None) -> list[Run]:
    return [run for run in runs if (model is None or fnmatch.fnmatchcase(run.model, model))
            and (data is None or fnmatch.fnmatchcase(run.data, data))]


def sort(runs: list[Run], key: str) -> list[Run]:
    if key == "best":  # the best first, each by its own monitor's direction; runs without a number last
        return sorted(runs, key=lambda r: (r.best is None, 0.0 if r.best is None else
                                           (r.best if r.lower_is_better else -r.best)))
    if key == "epochs":
        return sorted(runs, key=lambda r: -r.epochs)
    field_of = {"date": "date", "run": "task", "status": "status", "path": "path"}[key]
    return sorted(runs, key=lambda r: (str(getattr(r, field_of)), r.date))


def table(runs: list[Run]) -> str:
    header = ["date", "run", "status", "epochs", "best", "best epoch", "path", "overrides"]
    rows = [[run.date, run.task, run.status, str(run.epochs), _best_text(run),
             "-" if run.best_epoch is None else str(run.best_epoch), _shown_path(run.path), " ".join(run.overrides)]
            for run in runs]  # the overrides last and whole: what tells runs of one model_data apart
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def _best_text(run: Run) -> str:
    if run.best is None:
        return "-"
    return f"{run.monitor}={run.best:.4g}" if run.monitor else f"{run.best:.4g}"


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------ --compare
def compare(paths: list[str], root: Path, out: Path | None) -> Path:
    """Draw the curves of the named runs (folders, or run names found under ``root``) into one PNG."""
    folders = [_run_named(name, root) for name in paths]
    runs = [read_run(folder, root) for folder in folders]
    labels = _labels(runs)
    curves = [results_plot.read_curves(run.path, label) for run, label in zip(runs, labels)]
    empty = [str(run.path) for run, curve in zip(runs, curves) if not curve.series]
    if empty:
        raise UserError(f"{', '.join(empty)} has no metrics.csv rows to draw yet (logger=none, or it failed before "
                        "its first epoch); compare runs that finished an epoch.")
    target = out or root / f"compare_{datetime.datetime.now():%Y-%m-%d_%H-%M-%S}.png"
    return results_plot.draw(curves, target, title=" vs ".join(labels))


def _run_named(name: str, root: Path) -> Path:
    path = Path(name).expanduser()
    if (path / ".hydra" / "overrides.yaml").is_file():
        return path
    matches = [folder for folder in find_runs(root) if folder.name == name or str(folder).endswith(name)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UserError(f"{name} is not a run directory (no .hydra/overrides.yaml) nor the name of a run under "
                        f"{root}; pass a path from the table of `dltrain runs`.")
    raise UserError(f"{name} names {len(matches)} runs under {root} ({', '.join(str(m) for m in matches[:3])}); "
                    "pass the run's path from the table of `dltrain runs`.")


def _labels(runs: list[Run]) -> list[str]:
    """What tells the runs apart: the overrides they do not share, else their model_data and folder names."""
    common = set.intersection(*(set(run.overrides) for run in runs)) if runs else set()
    labels = [" ".join(o for o in run.overrides if o not in common) for run in runs]
    if all(labels) and len(set(labels)) == len(labels):
        return labels
    return [f"{run.task}/{run.path.name}" for run in runs]


# ------------------------------------------------------------------ the command
def parser() -> argparse.ArgumentParser:
    commands = argparse.ArgumentParser(
        prog="dltrain runs", description="A table of the runs under DIR; --compare draws their curves into a PNG.")
    commands.add_argument("dir", nargs="?", default=None, help="where the runs are (default: outputs/, or "
                          "$DLTRAIN_OUTPUT_DIR)")
    commands.add_argument("--sort", choices=SORT_KEYS, default="date", help="order of the rows (default: date)")
    commands.add_argument("--model", help="only runs of this model (a shell pattern: 'resnet*')")
    commands.add_argument("--data", help="only runs on this data (a shell pattern)")
    commands.add_argument("--compare", nargs="+", metavar="RUN", help="draw these runs' curves into one PNG")
    commands.add_argument("--out", type=Path, help="--compare: the PNG to write (default: DIR/compare_<time>.png)")
    return commands


def main(argv: list[str]) -> int:
    import os

    args = parser().parse_args(argv)
    root = Path(args.dir or os.environ.get("DLTRAIN_OUTPUT_DIR") or "outputs").expanduser()
    if not root.is_dir():
        raise UserError(f"{root} is not a folder of runs; train first (`dltrain`), or name the folder: "
                        "dltrain runs PATH.")
    if args.compare:
        print(compare(args.compare, root, args.out))
        return 0
    runs = sort(select([read_run(folder, root) for folder in find_runs(root)], args.model, args.data), args.sort)
    if not runs:
        print(f"no runs under {root}" + (" match the filters" if args.model or args.data else ""), file=sys.stderr)
        return 0
    print(table(runs))
    return 0
