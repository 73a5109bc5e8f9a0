"""Image helpers shared by the image-generating tasks (GANs, autoencoders, MAE, image-to-image translation).

* ``PixelScale``: between the data's normalised images and pixels in [0, 1], bound to the data by
  ``bind_pixel_scale`` (one sentence when the data states no normalisation);
* ``image_grid``: a batch of pixels as one visible uint8 grid for TensorBoard;
* ``sample_predictions``: generated images as ``mode=predict`` output (one PNG each and their grid).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from dltrain.errors import UserError
from dltrain.predict.records import Prediction
from dltrain.visuals.grids import to_uint8


class PixelScale(nn.Module):
    """Between the data's normalised images ((x - mean) / std) and pixels in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()  # identity until ``set``: data already in [0, 1]
        self.register_buffer("mean", torch.zeros(1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.ones(1, 1, 1, 1), persistent=False)

    def set(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(list(mean), dtype=torch.float32, device=self.mean.device).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32, device=self.std.device).view(1, -1, 1, 1)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean

    def from_unit(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean) / self.std


def image_grid(pixels: torch.Tensor, nrow: int = 8, min_tile: int = 32) -> torch.Tensor:
    """Images in [0, 1] as one uint8 (3, H, W) grid; small images are enlarged (nearest) to be visible."""
    pixels = pixels.detach().float().clamp(0, 1).cpu()
    scale = max(1, -(-min_tile // pixels.shape[-1]))
    if scale > 1:
        pixels = F.interpolate(pixels, scale_factor=scale, mode="nearest")
    grid = torchvision.utils.make_grid(pixels, nrow=nrow, padding=2, pad_value=0.5)
    return (grid * 255).round().to(torch.uint8)


def sample_predictions(pixels: torch.Tensor, nrow: int = 8, labels: torch.Tensor | None = None) -> list[Prediction]:
    """Generated images in [0, 1] as ``mode=predict`` output: sample_0000.png... at the model's resolution
    (with its class in the record when conditional), and samples_grid.png (enlarged, ``nrow`` per row)."""
    predictions = []
    for index, image in enumerate(pixels):
        record: dict[str, Any] = {"index": index}
        if labels is not None:
            record["class"] = int(labels[index])
        predictions.append(Prediction(f"sample_{index:04d}", record, {"": to_uint8(image)}))
    predictions.append(Prediction("samples_grid", None, {"": image_grid(pixels, nrow=nrow)}))
    return predictions


def bind_pixel_scale(task_name: str, scale: PixelScale, data: Any) -> None:
    """Read the data's normalisation into ``scale``; one sentence when the data has none."""
    mean, std = getattr(data, "mean", None), getattr(data, "std", None)
    if mean is None or std is None or getattr(data, "in_channels", None) is None:
        raise UserError(f"The {task_name} task needs an image data config with in_channels, mean and std, and "
                        f"{type(data).__name__} lacks them; use data=digits, mnist, fashion_mnist or cifar10.")
    channels = data.in_channels
    scale.set(list(mean) * (channels // len(mean)), list(std) * (channels // len(std)))
