"""Precision-recall curves of a classifier, one per class (one class against the rest), in one figure.

Drawn from counts per score threshold (``ClassificationMetrics.pr_curves``); the legend gives each class's
average precision, the area under its curve as scikit-learn's ``average_precision_score`` sums it
(sum over thresholds of precision x recall gained), here over the 127 thresholds TensorBoard's PR-curve plugin uses.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from dltrain.metrics.binary import average_precision
from dltrain.visuals.figures import new_figure


def precision_recall(counts: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision and recall (class, threshold) from the counts; precision is 1 where nothing is predicted."""
    tp, fp, fn = (counts[k].double() for k in ("true_positives", "false_positives", "false_negatives"))
    precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp(min=1), 1.0)
    recall = tp / (tp + fn).clamp(min=1)
    return precision, recall


def pr_curves_figure(counts: dict[str, torch.Tensor], class_names: Sequence[str],
                     title: str = "precision-recall per class") -> Any:
    precision, recall = precision_recall(counts)
    ap = average_precision(recall.flip(-1), precision.flip(-1))  # the thresholds rise along the counts
    figure = new_figure(7.5, 6.0)
    axes = figure.add_subplot()
    colours = [f"C{i}" for i in range(10)]
    for index, name in enumerate(class_names):
        axes.plot(recall[index].numpy(), precision[index].numpy(), color=colours[index % 10], linewidth=1.5,
                  label=f"{name} (AP {float(ap[index]):.3f})")
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=8)
    return figure
