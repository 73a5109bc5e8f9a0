"""K-fold cross-validation as a run mode for any task and model: ``dltrain cv.folds=5``.

The training and validation splits of the data module are pooled and cut
into k folds (stratified by label when ``cv.stratified`` and the samples have
integer labels); each fold trains a fresh model on the other k-1 folds and
validates on its own, in ``<run>/fold_<i>/``. ``<run>/cv_summary.json`` and
``cv_summary.csv`` hold every fold's metrics and their mean and standard
deviation. The test split is left alone.
"""
from __future__ import annotations

import csv
import json
import logging
import statistics
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

from dltrain.errors import UserError

log = logging.getLogger(__name__)


def sample_labels(dataset: Dataset) -> list[int] | None:
    """Integer class labels of every sample, or None when the samples have none."""
    labels = []
    for index in range(len(dataset)):
        item = dataset[index]
        label = item[1] if isinstance(item, (tuple, list)) and len(item) > 1 else None
        if not (isinstance(label, int) or (torch.is_tensor(label) and label.ndim == 0 and not label.is_floating_point())):
            return None
        labels.append(int(label))
    return labels


def fold_indices(num_samples: int, folds: int, seed: int, labels: list[int] | None) -> list[tuple[list[int], list[int]]]:
    """(train indices, validation indices) per fold; each sample is validated exactly once."""
    if folds < 2 or folds > num_samples:
        raise UserError(f"cv.folds={folds} must be between 2 and the number of samples ({num_samples}).")
    from sklearn.model_selection import KFold, StratifiedKFold  # here: a second to import, for cv runs only

    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed) if labels else KFold(folds, shuffle=True,
                                                                                              random_state=seed)
    split = splitter.split(range(num_samples), labels) if labels else splitter.split(range(num_samples))
    return [(train.tolist(), val.tolist()) for train, val in split]


def cross_validate(data: Any, folds: int, stratified: bool, seed: int, train_fold) -> dict[str, Any]:
    """Run ``train_fold(fold, data, fold_dir)`` per fold with the data's splits swapped; return the summary."""
    pooled = ConcatDataset([data.train_dataset, data.val_dataset])
    labels = sample_labels(pooled) if stratified else None
    if stratified and labels is None:
        log.warning("cv.stratified: the samples carry no integer labels; using plain k-fold")
    results = []
    for fold, (train_index, val_index) in enumerate(fold_indices(len(pooled), folds, seed, labels)):
        data.train_dataset, data.val_dataset = Subset(pooled, train_index), Subset(pooled, val_index)
        log.info("fold %d/%d: %d training, %d validation samples", fold + 1, folds, len(train_index), len(val_index))
        results.append(train_fold(fold))
    return summarise(results)


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    keys = sorted({k for r in results for k, v in r.items() if isinstance(v, (int, float))})
    summary: dict[str, Any] = {"folds": results}
    for key in keys:
        values = [r[key] for r in results if key in r]
        summary[f"{key}/mean"] = statistics.fmean(values)
        summary[f"{key}/std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return summary


def write_summary(summary: dict[str, Any], run_dir: Path) -> None:
    (run_dir / "cv_summary.json").write_text(json.dumps(summary, indent=2))
    rows = summary["folds"]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with (run_dir / "cv_summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["fold", *columns])
        writer.writeheader()
        for fold, row in enumerate(rows):
            writer.writerow({"fold": fold, **row})
        for stat in ("mean", "std"):
            writer.writerow({"fold": stat, **{k: summary.get(f"{k}/{stat}", "") for k in columns}})
