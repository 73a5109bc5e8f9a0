"""Pictures side by side with a title over each: ground truth | prediction panels for TensorBoard and plots/.

Text uses matplotlib's bundled DejaVu Sans, found on disk without importing matplotlib (PIL's default bitmap
font is 6 px high, unreadable once TensorBoard scales an image down); PIL's default where it is missing.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from dltrain.visuals.grids import pil_to_uint8

TITLE_HEIGHT = 22


@cache
def font_path() -> str | None:
    """DejaVu Sans from matplotlib's data folder (a dependency), or None."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    return str(path) if path.is_file() else None


def font(size: int = 14) -> ImageFont.ImageFont:
    path = font_path()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default()


def titled_row(pictures: Sequence[torch.Tensor], titles: Sequence[str], gap: int = 4) -> torch.Tensor:
    """uint8 (3, H, W) pictures of one height in a row, each under its title, on white: one uint8 picture."""
    height = max(p.shape[-2] for p in pictures)
    width = sum(p.shape[-1] for p in pictures) + gap * (len(pictures) - 1)
    canvas = Image.new("RGB", (width, height + TITLE_HEIGHT), "white")
    draw = ImageDraw.Draw(canvas)
    left = 0
    for picture, title in zip(pictures, titles):
        canvas.paste(Image.fromarray(picture.permute(1, 2, 0).cpu().numpy()), (left, TITLE_HEIGHT))
        draw.text((left + 4, 3), title, fill="black", font=font(14))
        left += picture.shape[-1] + gap
    return pil_to_uint8(canvas)
