"""One curve on the unit square, labelled: the ROC and precision-recall curves of a binary classifier.

Drawn with matplotlib like every labelled picture (``dltrain.visuals.figures``): axis names and ticks from 0 to 1,
a light grid, the curve's summary number (ROC-AUC, average precision) in the legend and, for ROC, the chance
diagonal. Several classes' precision-recall curves in one figure are ``dltrain.visuals.precision_recall``.
"""
from __future__ import annotations

from typing import Any

import torch

from dltrain.visuals.figures import new_figure


def curve_figure(x: torch.Tensor, y: torch.Tensor, title: str, x_label: str, y_label: str, label: str,
                 diagonal: bool = False) -> Any:
    """The polyline through (x, y) in [0, 1]^2, named ``label`` in the legend; ``diagonal`` adds the chance line."""
    figure = new_figure(6.0, 6.0)
    axes = figure.add_subplot()
    if diagonal:
        axes.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="chance")
    axes.plot(x.cpu().double().numpy(), y.cpu().double().numpy(), color="C0", linewidth=2, label=label)
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right" if diagonal else "lower left")
    return figure
