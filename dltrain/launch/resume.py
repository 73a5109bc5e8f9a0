"""Which run a command continues: ``ckpt_path=last``, ``ckpt_path=last_or_new``, a run directory, or a file.

A run has an identity: its composed config. ``ckpt_path=last`` continues the newest run under
``outputs/<task_name>/`` (single runs and sweep jobs) whose stored config equals the command's, except the keys
a resume may change (``RESUMABLE``: more epochs, fewer threads, other loggers, checkpoint cadence,
fault-injection callbacks...), that has a ``last.ckpt``
and that is not running now (``RUN_LOCK`` in its directory names the process; a lock whose process is gone is
stale: a killed run is resumable). It continues in that run's own directory, as Ultralytics' resume does: the
new TensorBoard events and metrics.csv rows follow the old ones. When no run matches, one sentence lists the
nearest candidates with what differs, and how to name one. ``last_or_new`` starts a fresh run instead (for
requeue scripts, where the first attempt may have died before its first checkpoint).

``ckpt_path=<run directory>`` continues that run in its directory; ``ckpt_path=<file>`` starts a new run
directory from the file's state (to branch off a run, e.g. from its ``epoch_0004.ckpt``).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from dltrain import checkpoint
from dltrain.errors import UserError
from dltrain.launch.run_lock import RUN_LOCK, hold_lock, release_lock, running_process  # noqa: F401 (resume's API)

log = logging.getLogger(__name__)

SEARCHES = ("last", "last_or_new")
# keys a resumed run may set differently from the run it continues
RESUMABLE = ("ckpt_path", "mode", "paths.", "hydra.", "predict.", "test", "tags", "trust_targets", "logger",
             "trainer.max_epochs", "trainer.max_steps", "trainer.enable_progress_bar", "trainer.num_threads",
             "trainer.accelerator", "trainer.async_checkpoint", "trainer.log_histograms", "trainer.log_every_n_steps",
             "callbacks.", "data.num_workers", "data.pin_memory", "data.persistent_workers", "data.prefetch_factor",
             "data.device")
IDENTITY = ("callbacks.ema.",)  # ... except these: the weights an EMA averages are part of what the run is


@dataclass
class Resolution:
    checkpoint: Path | None = None  # the file to resume from (None: a fresh run)
    run_dir: Path | None = None     # the directory the run continues in (None: a new one)


@dataclass
class Candidate:
    run_dir: Path
    differences: list[str] = field(default_factory=list)
    running: str = ""  # who runs it now, when somebody does


def resolve(cfg: DictConfig, exclude: Path | None = None) -> Resolution:
    """What ``cfg.ckpt_path`` means for a training command."""
    value = cfg.get("ckpt_path")
    if not value:
        return Resolution()
    if str(value) in SEARCHES:
        found = newest_matching(cfg, exclude)
        if found is None and str(value) == "last_or_new":
            log.info("ckpt_path=last_or_new: no run of %s to continue, starting a new one", cfg.task_name)
            return Resolution()
        return Resolution(found / "checkpoints" / "last.ckpt", found)
    path = Path(str(value)).expanduser()
    if path.is_dir():
        run_dir = path.parent if path.name == "checkpoints" else path
        if not (run_dir / "checkpoints" / "last.ckpt").is_file():
            raise UserError(f"ckpt_path={path} is a directory without checkpoints/last.ckpt; pass a checkpoint "
                            "file, or the directory of a run that wrote one.")
        refuse_if_running(run_dir)
        return Resolution(run_dir / "checkpoints" / "last.ckpt", run_dir)
    return Resolution(path, None)


def newest_matching(cfg: DictConfig, exclude: Path | None = None) -> Path | None:
    """The newest resumable run of ``cfg``'s identity; ``UserError`` when runs exist but none matches."""
    root = Path(cfg.paths.output_dir) / cfg.task_name
    lasts = sorted((p for p in root.rglob("checkpoints/last.ckpt") if exclude is None or exclude not in p.parents),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    current = flat(OmegaConf.to_container(cfg, resolve=True))
    candidates = []
    for last in lasts:
        run_dir = last.parent.parent
        candidate = Candidate(run_dir, differences(current, flat(yaml.safe_load(checkpoint.load(last)["config"]))),
                              running_process(run_dir))
        if not candidate.differences and not candidate.running:
            return run_dir
        candidates.append(candidate)
    if str(cfg.ckpt_path) == "last_or_new" and not any(c.running and not c.differences for c in candidates):
        return None
    raise UserError(no_match_message(cfg, root, candidates))


def no_match_message(cfg: DictConfig, root: Path, candidates: list[Candidate]) -> str:
    if not candidates:
        return (f"ckpt_path=last found no last.ckpt under {root}; train first, use ckpt_path=last_or_new to start a "
                "new run when there is none, or pass ckpt_path=PATH.")
    shown = []
    for candidate in candidates[:3]:
        reason = f"running ({candidate.running})" if candidate.running and not candidate.differences else \
            "differs in " + ", ".join(candidate.differences[:3])
        shown.append(f"{candidate.run_dir} ({reason})")
    return (f"ckpt_path=last found no finished or stopped run of {cfg.task_name} with this command's config: "
            f"{'; '.join(shown)}; resume one of them with ckpt_path=<its directory>, or give the overrides it was "
            "trained with.")


def flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {dotted.key: value}."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): node}


def differences(current: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """Keys both configs hold with other values (``key=stored->current``), resumable keys excepted."""
    found = []
    for key in sorted(current.keys() & stored.keys(), key=lambda k: (k.count("."), k)):  # top-level keys first
        if (key.startswith(RESUMABLE) and not key.startswith(IDENTITY)) or current[key] == stored[key]:
            continue
        found.append(f"{key}={stored[key]}->{current[key]}")
    return found


def refuse_if_running(run_dir: Path) -> None:
    holder = running_process(run_dir)
    if holder:
        raise UserError(f"The run {run_dir} is still training ({holder}); wait for it to end, or stop it, before "
                        "continuing it.")


# ------------------------------------------------------------------ before Hydra names the run directory
def continue_in_place(argv: list[str]) -> list[str]:
    """A training command line with ``ckpt_path`` resolved: the checkpoint file (or null for a fresh run), and
    ``hydra.run.dir`` set to the directory of the run it continues. Sweeps resolve per job (in new job
    directories); under torchrun rank 0 resolves and the other ranks follow it (launch/shared_run_dir.py)."""
    overrides = [a for a in argv if not a.startswith("-")]
    asked = [a.split("=", 1)[1] for a in overrides if a.startswith("ckpt_path=")]
    if not asked or any(a in ("-m", "--multirun") for a in argv) or int(os.environ.get("RANK", "0")) > 0:
        return argv
    if asked[-1] not in SEARCHES and not Path(asked[-1]).expanduser().is_dir():
        return argv
    from dltrain import api  # composing costs what preflight already paid

    cfg = api.compose(overrides)
    if cfg.mode != "train":
        return argv
    resolution = resolve(cfg)
    extra = [f"ckpt_path={quoted(resolution.checkpoint)}" if resolution.checkpoint else "ckpt_path=null"]
    if resolution.run_dir:
        log.info("continuing %s", resolution.run_dir)
        extra.append(f"hydra.run.dir={quoted(resolution.run_dir)}")
    return [a for a in argv if not a.startswith("ckpt_path=")] + extra


def quoted(path: Path) -> str:
    """A path as a Hydra override value, whatever characters it holds."""
    text = str(Path(path).resolve()).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"
