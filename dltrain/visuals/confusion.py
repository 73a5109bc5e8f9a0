"""The labelled confusion matrix: true classes down, predicted classes across, class names on both axes.

``counts`` writes how many samples fall in each cell; ``normalized`` divides each row by the class's samples
(each diagonal cell is that class's recall). Both are coloured by the row share, so the pictures look alike
and a class with many samples does not darken its row.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from dltrain.visuals.figures import new_figure

MAX_CELL_TEXT = 30  # classes up to which every cell gets its number
MAX_TICK_LABELS = 60  # classes up to which every class is named on the axes


def confusion_figure(confusion: torch.Tensor, class_names: Sequence[str], normalized: bool = False,
                     title: str = "confusion matrix") -> Any:
    """A matplotlib figure of ``confusion`` (rows: true class, columns: predicted class)."""
    counts = confusion.detach().cpu().double()
    n = counts.shape[0]
    shares = (counts / counts.sum(dim=1, keepdim=True).clamp(min=1)).numpy()
    names = [str(name) for name in class_names] if n <= MAX_TICK_LABELS else []
    longest = max(map(len, names), default=1)
    # inches; the axes are placed by hand (no layout engine: it would double the drawing time, paid every
    # few validations): a square matrix, room on the left and below for the names, on the right for the colour bar
    side = min(max(0.45 * n + 1.5, 4.5), 14.0)
    left, bottom, top, right = 0.6 + 0.08 * min(longest, 24), 0.5 + 0.06 * min(longest, 24), 0.45, 1.2
    width, height = left + side + right, bottom + side + top
    figure = new_figure(width, height, layout=None)
    axes = figure.add_axes((left / width, bottom / height, side / width, side / height))
    shown = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    bar = figure.add_axes(((left + side + 0.2) / width, bottom / height, 0.2 / width, side / height))
    figure.colorbar(shown, cax=bar, label="share of the true class")
    if names:
        slanted = longest > 3
        axes.set_xticks(range(n), names, rotation=45 if slanted else 0, ha="right" if slanted else "center",
                        rotation_mode="anchor" if slanted else "default")
        axes.set_yticks(range(n), names)
    if n <= MAX_CELL_TEXT:
        size = 10 if n <= 12 else 7
        for i in range(n):
            for j in range(n):
                if counts[i, j] == 0:
                    continue
                text = f"{shares[i, j]:.2f}" if normalized else f"{int(counts[i, j])}"
                axes.text(j, i, text, ha="center", va="center", fontsize=size,
                          color="white" if shares[i, j] > 0.5 else "black")
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(f"{title} ({'normalised by true class' if normalized else 'counts'}, "
                   f"{int(counts.sum())} samples)")
    return figure
