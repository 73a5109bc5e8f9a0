"""matplotlib figures as TensorBoard images and as PNG files.

matplotlib is imported inside these functions, never at module import: it costs over a second, and neither
``dltrain --help`` nor a run's start should pay it (tests/test_startup_imports.py checks). Figures are made with
``matplotlib.figure.Figure`` on an Agg canvas, not with pyplot: no GUI backend is ever picked, no global figure
state is kept between epochs, and nothing needs closing.

Drawing a labelled figure costs a few tenths of a second, more than an epoch of a small model, so the trainer
asks tasks for pictures only at every ``trainer.visuals_every_n_validations``-th validation within a share of
the training time, and at the test pass (dltrain/engine/picture_schedule.py); plots/ gets them once, at the end
of the run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

DPI = 100


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Any:
    """An empty figure of ``width`` x ``height`` inches (100 px per inch) on an Agg canvas. ``layout=None``: the
    caller places its axes (constrained layout measures every text, half the drawing time of a labelled matrix)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def figure_to_uint8(figure: Any) -> torch.Tensor:
    """The rendered figure as a uint8 (3, H, W) tensor, the format ``add_image`` takes."""
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3]
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()


def save_figure(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path


def save_uint8_png(image: torch.Tensor, path: Path) -> Path:
    """A uint8 (C, H, W) image (C = 1 or 3) as a PNG file."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = image.detach().cpu().to(torch.uint8)
    array = pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()
    Image.fromarray(array).save(path)
    return path
