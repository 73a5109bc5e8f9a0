"""Where a command's folder goes, and removing it again when the command failed before it held anything.

    dltrain ...                         outputs/<task_name>/<date>_<time>_<id>/
    dltrain trainer=debug ...           outputs/debug/<task_name>/<date>_<time>_<id>/   (apart from real runs)
    dltrain mode=eval ckpt_path=RUN/checkpoints/best.ckpt      RUN/eval_<date>_<time>_<id>/
    dltrain mode=predict ckpt_path=...                         RUN/predict_<date>_<time>_<id>/
    ... of a checkpoint outside a run directory                outputs/<task_name>/eval_<date>_<time>_<id>/

The training and debug folders are named by ``configs/hydra/default.yaml`` (the ``dltrain.run_root`` and
``dltrain.mode_prefix`` resolvers of launch/config.py); an evaluation's folder goes inside the run it evaluates, which only the
checkpoint's path says, so ``place_evaluation`` names it on the command line before Hydra starts.

Every folder a command makes ends with the process's run id (``dltrain.run_id``). A failed command removes its
folder when that folder holds nothing worth keeping (``remove_if_disposable``); a folder whose name carries
another id existed before the command (a run continued in place, ``hydra.run.dir=.``) and is never removed.
"""
from __future__ import annotations

import datetime
import logging
import shutil
from pathlib import Path

from dltrain.launch.config import EVALUATING_MODES, _run_id

log = logging.getLogger(__name__)

# what a command leaves before anything worth keeping: its log, Hydra's record of the config, TensorBoard events
# and step rows of an epoch that never finished, the running lock; checkpoints, metrics.csv, results.json,
# predictions and failed.json are worth keeping
DISPOSABLE_FILES = {"train.log", ".running.json", "metrics_steps.csv"}
DISPOSABLE_FOLDERS = {".hydra", "tb"}


def stamp() -> str:
    """``<date>_<time>_<id>``: the name of a new folder of this process."""
    return f"{datetime.datetime.now():%Y-%m-%d_%H-%M-%S}_{_run_id()}"


def run_of_checkpoint(ckpt_path: str | Path) -> Path | None:
    """The run directory a checkpoint file belongs to (``RUN/checkpoints/best.ckpt`` -> ``RUN``), or the run
    directory named itself; None for a file elsewhere."""
    path = Path(ckpt_path).expanduser()
    if path.is_dir():
        run = path.parent if path.name == "checkpoints" else path
        return run if (run / "checkpoints").is_dir() else None
    if path.is_file() and path.parent.name == "checkpoints":
        return path.parent.parent
    return None


def evaluation_dir(mode: str, ckpt_path: str | Path) -> Path | None:
    """``RUN/eval_<date>_<time>_<id>`` for a checkpoint of RUN; None when it is not in a run directory."""
    run = run_of_checkpoint(ckpt_path)
    return None if run is None else run / f"{mode}_{stamp()}"


def place_evaluation(argv: list[str]) -> list[str]:
    """``mode=eval`` / ``mode=predict`` command lines get ``hydra.run.dir`` inside the evaluated run; any other
    command line (and one that names its own hydra.run.dir) is returned as it is."""
    overrides = [a for a in argv if not a.startswith("-")]
    modes = [a.split("=", 1)[1] for a in overrides if a.startswith("mode=")]
    asked = [a.split("=", 1)[1] for a in overrides if a.startswith("ckpt_path=")]
    if not modes or modes[-1] not in EVALUATING_MODES or not asked or any(a in ("-m", "--multirun") for a in argv) \
            or any(a.startswith("hydra.run.dir=") for a in overrides):
        return argv
    ckpt_path = asked[-1].strip("'\"")
    if ckpt_path in ("last", "last_or_new"):
        ckpt_path = _newest_last(overrides)
        if ckpt_path is None:
            return argv  # no checkpoint to find: the command says so in its own words
    target = evaluation_dir(modes[-1], ckpt_path)
    if target is None:
        return argv
    from dltrain.launch.resume import quoted

    return [*argv, f"hydra.run.dir={quoted(target)}"]


def _newest_last(overrides: list[str]) -> Path | None:
    """What ``ckpt_path=last`` means for mode=eval / predict: the newest last.ckpt of the task_name."""
    from dltrain import api, checkpoint
    from dltrain.errors import UserError

    cfg = api.compose(overrides)
    try:
        return checkpoint.find_last(Path(cfg.paths.output_dir), cfg.task_name)
    except UserError:
        return None


# ------------------------------------------------------------------ after a failure
def made_by_this_process(folder: Path) -> bool:
    return folder.name.endswith(_run_id())


def holds_nothing_worth_keeping(folder: Path) -> bool:
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            if entry.name not in DISPOSABLE_FOLDERS and not holds_nothing_worth_keeping(entry):
                return False
        elif entry.name not in DISPOSABLE_FILES and not entry.name.endswith(".tmp"):
            return False
    return True


def remove_if_disposable(folder: Path) -> bool:
    """Remove the folder of a failed command when this process made it and it holds nothing worth keeping (no
    checkpoint, metrics.csv, results or predictions); True when it was removed."""
    if not folder.is_dir() or not made_by_this_process(folder) or not holds_nothing_worth_keeping(folder):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    # the folders above it left empty go too (outputs/<task_name>/, outputs/debug/, outputs/): a mistake writes
    # nothing; never above outputs/ or the working directory
    for parent in folder.resolve().parents:
        if parent == Path.cwd().resolve() or any(parent.iterdir()):
            break
        parent.rmdir()
        if parent.name == "outputs":
            break
    return True
