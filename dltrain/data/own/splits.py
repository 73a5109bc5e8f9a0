"""Training, validation and test rows of a user's data: given by the files, or cut at random from one set.

Cut splits are fixed by the seed and stratified by class when the target is a class label (each split
keeps the class proportions; a class too rare to reach every split falls back to a plain random cut).
A split left empty is a user mistake said in one sentence: a model cannot be validated on nothing.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from dltrain.data.core.splits import split
from dltrain.errors import UserError

log = logging.getLogger(__name__)


def split_rows(count: int, labels: np.ndarray | None, val_fraction: float, test_fraction: float, seed: int,
               source: str, cut: tuple[str, ...] = ("val", "test")) -> dict[str, np.ndarray]:
    """Row indices per split; ``cut`` names the splits to carve from the rows (the others come from files)."""
    fractions = {"val": val_fraction if "val" in cut else 0.0, "test": test_fraction if "test" in cut else 0.0}
    for name, fraction in fractions.items():
        if name in cut and not 0 < fraction < 1:
            raise UserError(f"data.{name}_fraction={fraction} must lie between 0 and 1 (the share of {source}'s "
                            f"rows held out for {name}); or give the {name} split in its own file.")
    rows = np.arange(count)
    splits = {"train": rows}
    for name in ("test", "val"):  # the test share is of all rows, the validation share of all rows too
        if name in cut:
            share = fractions[name] / (1.0 - fractions["test"] if name == "val" else 1.0)
            splits["train"], splits[name] = _cut(splits["train"], labels, share, seed, source, name)
    for name, chosen in splits.items():
        if len(chosen) == 0:
            raise UserError(empty_split(name, source))
    return splits


def cut_from_training(splits: dict[str, list[tuple[Any, int]]], cut: tuple[str, ...], val_fraction: float,
                      test_fraction: float, seed: int, source: str) -> None:
    """Carve the splits named in ``cut`` out of ``splits["train"]``, (example, class index) pairs, by class."""
    if cut:
        train = splits["train"]
        labels = np.array([label for _, label in train])
        rows = split_rows(len(train), labels, val_fraction, test_fraction, seed, source, cut)
        splits.update({split: [train[i] for i in chosen] for split, chosen in rows.items()})


def _cut(rows: np.ndarray, labels: np.ndarray | None, share: float, seed: int, source: str,
         name: str) -> tuple[np.ndarray, np.ndarray]:
    if len(rows) < 2 or round(share * len(rows)) < 1:
        raise UserError(empty_split(name, source))
    stratify = None if labels is None else labels[rows]
    if stratify is not None and np.min(np.unique(stratify, return_counts=True)[1]) < 2:
        log.warning("%s: a class has a single example, so the %s split is cut at random, not stratified",
                    source, name)
        stratify = None
    try:
        kept, held_out = split(list(rows), test_size=share, seed=seed, stratify=stratify)
    except ValueError:  # too few rows per class for a stratified cut of this size
        kept, held_out = split(list(rows), test_size=share, seed=seed)
    return np.sort(kept), np.sort(held_out)


def empty_split(name: str, source: str) -> str:
    return (f"The {name} split of {source} would hold no examples; add examples, raise data.{name}_fraction, "
            f"or give the {name} split in its own file (dltrain --help own_data, 'Layouts').")
