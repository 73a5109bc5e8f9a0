"""Pictures for TensorBoard drawn without matplotlib: heat maps and labelled image grids.

Everything returns a uint8 tensor (3, H, W), the format ``add_image`` takes. torchvision is imported
where it is used: it costs a second to import, which a run should not pay before its first step.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw


def pil_to_uint8(image: Image.Image) -> torch.Tensor:
    """An RGB PIL image as a uint8 (3, H, W) tensor."""
    return torch.from_numpy(np.array(image.convert("RGB"), copy=True)).permute(2, 0, 1).contiguous()


def heatmap(matrix: torch.Tensor, cell: int = 24) -> torch.Tensor:
    """Row-normalised matrix (e.g. a confusion matrix) as white -> dark-blue cells with values."""
    rows = matrix.double() / matrix.double().sum(dim=1, keepdim=True).clamp(min=1)
    n, m = rows.shape
    image = Image.new("RGB", (m * cell, n * cell), "white")
    draw = ImageDraw.Draw(image)
    for i in range(n):
        for j in range(m):
            v = float(rows[i, j])
            colour = (int(255 * (1 - v)), int(255 * (1 - 0.7 * v)), 255 - int(100 * v))
            box = (j * cell, i * cell, (j + 1) * cell - 1, (i + 1) * cell - 1)
            draw.rectangle(box, fill=colour)
            if cell >= 20 and matrix[i, j] > 0:
                draw.text((box[0] + 2, box[1] + 6), f"{int(matrix[i, j])}", fill="black" if v < 0.6 else "white")
    return pil_to_uint8(image)


def labelled_grid(images: torch.Tensor, captions: Sequence[str], correct: Sequence[bool], size: int = 64) -> torch.Tensor:
    """Images (N, C, H, W, any range) in a grid, each with a caption and a green / red frame."""
    images = images.detach().float().cpu()
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    images = images[:, :3]
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    high = images.amax(dim=(1, 2, 3), keepdim=True)
    images = (images - low) / (high - low).clamp(min=1e-8)
    images = torch.nn.functional.interpolate(images, size=(size, size), mode="nearest")
    tiles = []
    for image, caption, ok in zip(images, captions, correct):
        tile = Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype("uint8"))
        draw = ImageDraw.Draw(tile)
        draw.rectangle((0, 0, size - 1, size - 1), outline=(0, 200, 0) if ok else (230, 0, 0), width=2)
        draw.rectangle((2, size - 13, size - 3, size - 3), fill=(0, 0, 0))
        draw.text((4, size - 13), caption, fill="white")
        tiles.append(pil_to_uint8(tile))
    from torchvision.utils import make_grid

    return make_grid(torch.stack(tiles), nrow=8, padding=2)


def to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """Float pixels in [0, 1] (clamped) as uint8 0..255 on the CPU, the format PNG writers take."""
    return (pixels.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
