"""What TensorBoard's HPARAMS tab shows for a run: the keys its command line (or its sweep job) set, and a
run name made of them.

Only the overrides are hyperparameters: the groups and keys every run of the project shares (callbacks,
logger, a loss a task does not use) would be columns that never differ. A value is read from the composed
config where it is a number, a string or a flag (``optimizer.lr=1e-2`` is the float 0.01, so HPARAMS can
filter a range), and is the override's own text for a group (``optimizer=adam``) or a list.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

# where the run writes and where it resumes from: not hyperparameters, and they differ between continuations
NOT_HYPERPARAMETERS = ("hydra.", "hydra/", "ckpt_path")
NO_OVERRIDES_NAME = "defaults"
MAX_NAME_LENGTH = 200  # folder names are limited (255 bytes on most file systems)


def hyperparameter_overrides(overrides: Sequence[str]) -> list[tuple[str, str]]:
    """``(key, value text)`` of each override that sets a hyperparameter, in command-line order (the last of a
    key repeated wins); ``+key`` / ``++key`` count as ``key``, deletions (``~key``) are left out."""
    found: dict[str, str] = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+")
        if not sep or key.startswith("~") or key.startswith(NOT_HYPERPARAMETERS):
            continue
        found.pop(key, None)
        found[key] = value
    return list(found.items())


def hparams(cfg: DictConfig, overrides: Sequence[str]) -> dict[str, Any]:
    """The hyperparameters of this run for HPARAMS: each override's key and its value (typed where a leaf)."""
    values = {}
    for key, text in hyperparameter_overrides(overrides):
        try:
            value = OmegaConf.select(cfg, key.split("@")[0], throw_on_missing=False)
        except Exception:  # an interpolation that needs Hydra's runtime, a key the run deleted: the text says it
            value = None
        values[key] = value if isinstance(value, (bool, int, float, str)) else text
    return values


def run_name(overrides: Sequence[str]) -> str:
    """``optimizer=adam,optimizer.lr=0.01``: the overrides as the name of the run's HPARAMS row (a folder
    name: path separators become ``|``); ``defaults`` when the command line set nothing."""
    parts = [f"{key}={value}" for key, value in hyperparameter_overrides(overrides)]
    name = re.sub(r"[/\\\x00-\x1f]", "|", ",".join(parts))[:MAX_NAME_LENGTH]
    return name if name.strip(".") else NO_OVERRIDES_NAME
