"""Line plots for TensorBoard drawn without matplotlib: ROC and precision-recall curves.

Same style as ``visuals.py``: PIL draws, the result is a uint8 tensor
(3, H, W), the format ``add_image`` takes. Both axes run from 0 to 1.
"""
from __future__ import annotations

import torch
from PIL import Image, ImageDraw

from dltrain.visuals.grids import pil_to_uint8

MARGIN = 28  # room for the axis labels


def curve_image(
    x: torch.Tensor,
    y: torch.Tensor,
    title: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    size: int = 256,
) -> torch.Tensor:
    """The polyline through (x, y) in [0, 1]^2 on a framed square; ``diagonal`` adds the chance line."""
    image = Image.new("RGB", (size + 2 * MARGIN, size + 2 * MARGIN), "white")
    draw = ImageDraw.Draw(image)

    def to_pixel(u: float, v: float) -> tuple[float, float]:  # y grows upwards on a plot, downwards in an image
        return MARGIN + u * size, MARGIN + (1 - v) * size

    for tick in (0.25, 0.5, 0.75):  # light grid
        draw.line([to_pixel(tick, 0), to_pixel(tick, 1)], fill=(230, 230, 230))
        draw.line([to_pixel(0, tick), to_pixel(1, tick)], fill=(230, 230, 230))
    draw.rectangle((*to_pixel(0, 1), *to_pixel(1, 0)), outline="black")
    if diagonal:
        draw.line([to_pixel(0, 0), to_pixel(1, 1)], fill=(160, 160, 160))
    points = [to_pixel(float(u), float(v)) for u, v in zip(x.cpu(), y.cpu())]
    if len(points) > 1:
        draw.line(points, fill=(20, 60, 200), width=2)
    draw.text((MARGIN, 8), title, fill="black")
    draw.text((MARGIN + size // 2 - 3 * len(x_label), size + MARGIN + 8), x_label, fill="black")
    draw.text((4, MARGIN + size // 2), y_label[:4], fill="black")
    for value, anchor in (("0", to_pixel(0, 0)), ("1", to_pixel(1, 0))):
        draw.text((anchor[0] - 3, anchor[1] + 2), value, fill="black")
    draw.text((MARGIN - 10, MARGIN - 5), "1", fill="black")
    return pil_to_uint8(image)
