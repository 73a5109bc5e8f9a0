"""One pass over a composed config before anything is built or written: types, ranges, paths.

Hydra checks that keys exist; this checks that their values make sense, so a run that cannot work stops
in one sentence (exit 2) instead of a traceback minutes later, or worse, runs and reports nonsense
(``trainer.max_epochs=0`` used to finish "successfully" with no training). The command line runs it on every
composed variant of a sweep before Hydra starts (``preflight.py``); ``run.train`` runs it for the Python API.
"""
from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from dltrain.errors import UserError


def whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# key: (test, what it must be); a key the config does not hold is not checked
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (whole, "a whole number"),
    "optimizer.lr": (lambda v: number(v) and v > 0, "a number above 0"),
    "optimizer.weight_decay": (lambda v: number(v) and v >= 0, "a number of at least 0"),
    "data.batch_size": (lambda v: whole(v) and v >= 1, "a whole number of at least 1"),
    "data.eval_batch_size": (lambda v: v is None or (whole(v) and v >= 1), "null or a whole number of at least 1"),
    "data.num_workers": (lambda v: whole(v) and v >= 0, "a whole number of at least 0"),
    "data.val_fraction": (lambda v: number(v) and 0 < v < 1, "a fraction between 0 and 1 (exclusive)"),
    "data.test_fraction": (lambda v: number(v) and 0 < v < 1, "a fraction between 0 and 1 (exclusive)"),
    "trainer.max_epochs": (lambda v: whole(v) and v >= 1, "a whole number of at least 1"),
    "trainer.max_steps": (lambda v: whole(v) and (v == -1 or v >= 1), "-1 (no limit) or a whole number of at least 1"),
    "trainer.accumulate_grad_batches": (lambda v: whole(v) and v >= 1, "a whole number of at least 1"),
    "trainer.val_every_n_epochs": (lambda v: whole(v) and v >= 1, "a whole number of at least 1"),
    "trainer.visuals_every_n_validations": (lambda v: whole(v) and v >= 1, "a whole number of at least 1"),
    "trainer.visuals_time_share": (lambda v: v is None or (number(v) and 0 < v <= 1),
                                   "null (no limit) or a fraction in (0, 1]"),
    "trainer.log_every_n_steps": (lambda v: whole(v) and v >= 1, "a whole number of at least 1"),
    "trainer.limit_train_batches": (lambda v: v is None or (whole(v) and v >= 1) or (number(v) and 0 < v <= 1),
                                    "null, a whole number of at least 1, or a fraction in (0, 1]"),
    "trainer.limit_val_batches": (lambda v: v is None or (whole(v) and v >= 1) or (number(v) and 0 < v <= 1),
                                  "null, a whole number of at least 1, or a fraction in (0, 1]"),
    "trainer.num_threads": (lambda v: v is None or (whole(v) and v >= 1), "null or a whole number of at least 1"),
    "trainer.gradient_clip_val": (lambda v: v is None or (number(v) and v > 0), "null or a number above 0"),
    "trainer.fast_dev_run": (lambda v: whole(v) and v >= 0, "a whole number of at least 0"),
    "trainer.loss_explosion_factor": (lambda v: v is None or (number(v) and v > 1), "null (off) or a number above 1"),
    "trainer.precision": (lambda v: str(v) in ("32", "bf16", "fp16"), "one of 32, bf16, fp16"),
    "cv.folds": (lambda v: whole(v) and (v == 0 or v >= 2), "0 (off) or a whole number of at least 2"),
}


def check(cfg: DictConfig) -> None:
    """Raise ``UserError`` for the first value of ``cfg`` that cannot make a run."""
    plain = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=False)
    missing = _missing(plain)  # in the order of the config file: data.root before what depends on it
    if missing:
        key = missing[0]
        group = key.split(".")[0]
        choice = OmegaConf.select(cfg, "hydra.runtime.choices", default={}).get(group) if "hydra" in cfg else None
        which = f"{group}={choice}" if choice else f"this {group} config"
        where = " (dltrain --help own_data shows the layouts of your own data)" if group == "data" else ""
        raise UserError(f"{which} needs {key}: add {key}=VALUE to the command line{where}.")
    for key, (test, wanted) in RULES.items():
        value = OmegaConf.select(cfg, key, default="<absent>")
        if value != "<absent>" and not test(value):
            raise UserError(f"{key}={value} cannot work: it must be {wanted}.")
    _check_trainer_keys(cfg)
    _check_output_dir(Path(str(OmegaConf.select(cfg, "paths.output_dir", default="outputs"))))


@functools.cache
def trainer_settings(config_dir: str) -> frozenset[str]:
    """Every key the trainer configs set (tests/test_validate.py checks they are the Trainer's parameters):
    read from the files, so a config error is answered without importing torch."""
    return frozenset(key for path in (Path(config_dir) / "trainer").glob("*.yaml")
                     for key in (yaml.safe_load(path.read_text()) or {}) if key != "defaults")


def _check_trainer_keys(cfg: DictConfig) -> None:
    """``+trainer.max_epoch=3`` adds a key the trainer does not take: name the one it meant."""
    from dltrain.launch.config import CONFIG_DIR

    taken = trainer_settings(CONFIG_DIR)
    for key in cfg.get("trainer", {}):
        if key != "_target_" and key not in taken:
            close = difflib.get_close_matches(str(key), sorted(taken), n=1)
            hint = f"; did you mean trainer.{close[0]}" if close else ""
            raise UserError(f"trainer.{key} is not a trainer setting{hint}? `dltrain trainer=default --cfg job` "
                            "lists them.")


def _missing(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose value is ``???`` (a value the user must give), found without resolving anything."""
    if isinstance(node, dict):
        return [key for name, value in node.items() for key in _missing(value, f"{prefix}{name}.")]
    return [prefix.rstrip(".")] if node == "???" else []


def _check_output_dir(output_dir: Path) -> None:
    """Runs write below paths.output_dir: it must be a folder this user can write (or create)."""
    existing = output_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise UserError(f"paths.output_dir={output_dir} cannot hold runs: {existing} is a file; pick another folder "
                        "(paths.output_dir=DIR or the DLTRAIN_OUTPUT_DIR environment variable).")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"paths.output_dir={output_dir} cannot hold runs: {existing} is not writable by this user; "
                        "pick another folder (paths.output_dir=DIR or the DLTRAIN_OUTPUT_DIR environment variable).")
