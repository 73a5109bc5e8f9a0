"""An in-memory image dataset (uint8 images + labels), for data that fits in RAM."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset


class TensorImageDataset(Dataset):
    """Images (N, C, H, W) uint8 and labels (N,).

    A transform without random steps is applied once up front, so an epoch
    over small in-memory data costs no per-sample Python work.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable | None = None) -> None:
        self.labels = labels
        self.source_images = images  # the uint8 images, for data.loader=device (dltrain/data/core/in_memory.py)
        if transform is not None and not _is_random(transform):
            self.images, self.transform = torch.stack([transform(image) for image in images]), None
        else:
            self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index]


def _is_random(transform: Callable) -> bool:
    steps = getattr(transform, "transforms", [transform])
    deterministic = ("ToImage", "ToDtype", "Normalize", "Resize", "CenterCrop", "ScaleNormalize")
    return any(type(step).__name__ not in deterministic for step in steps)
