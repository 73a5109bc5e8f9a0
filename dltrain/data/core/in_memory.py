"""The raw uint8 tensors behind an in-memory dataset, for the on-device loader.

``image_arrays(dataset)`` walks the dataset wrappers this project builds
(``Subset``, ``ConcatDataset`` of k-fold cross-validation, the per-split
transform wrappers) down to the arrays they index: torchvision's MNIST /
Fashion-MNIST / CIFAR ``.data`` and ``.targets``, ``TensorImageDataset``'s
images, the generated segmentation shapes. Transforms are ignored on purpose:
the on-device loader applies its own, to whole batches. A dataset that reads
files per sample has no such arrays and raises ``NotInMemory``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset


class NotInMemory(TypeError):
    """The dataset reads its samples one by one (files, generators): no arrays to move to a device."""


@dataclass
class ImageArrays:
    images: torch.Tensor   # (N, C, H, W) uint8
    targets: torch.Tensor  # (N,) int64 class labels, or (N, H, W) uint8 masks

    def __len__(self) -> int:
        return len(self.images)


def image_arrays(dataset: Dataset) -> ImageArrays:
    if isinstance(dataset, Subset):
        inner = image_arrays(dataset.dataset)
        index = torch.as_tensor(list(dataset.indices), dtype=torch.long)
        return ImageArrays(inner.images[index], inner.targets[index])
    if isinstance(dataset, ConcatDataset):
        parts = [image_arrays(part) for part in dataset.datasets]
        return ImageArrays(torch.cat([p.images for p in parts]), torch.cat([p.targets for p in parts]))
    if hasattr(dataset, "source_images"):  # TensorImageDataset
        return ImageArrays(dataset.source_images, torch.as_tensor(dataset.labels, dtype=torch.long))
    if hasattr(dataset, "data") and hasattr(dataset, "targets"):  # torchvision MNIST family, CIFAR-10/100
        return ImageArrays(_nchw(torch.as_tensor(np.asarray(dataset.data))),
                           torch.as_tensor(np.asarray(dataset.targets), dtype=torch.long))
    for attribute in ("subset", "source"):  # vision._Transformed, segmentation_data.SegmentationDataset
        inner = getattr(dataset, attribute, None)
        if isinstance(inner, Dataset):
            return image_arrays(inner)
        if isinstance(inner, list) and inner and isinstance(inner[0], tuple) and len(inner[0]) == 2:
            return _pairs(inner)  # generated (image, mask) pairs
    raise NotInMemory(f"{type(dataset).__name__} has no in-memory image arrays")


def _nchw(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) grey or (N, H, W, C) channels-last arrays as (N, C, H, W) uint8."""
    if images.dtype != torch.uint8:
        raise NotInMemory(f"images are {images.dtype}, not uint8")
    if images.dim() == 3:
        return images.unsqueeze(1)
    if images.dim() == 4 and images.shape[-1] in (1, 3, 4) and images.shape[1] not in (1, 3, 4):
        return images.permute(0, 3, 1, 2).contiguous()
    return images


def _pairs(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> ImageArrays:
    images = torch.stack([torch.as_tensor(image) for image, _ in pairs])
    masks = torch.stack([torch.as_tensor(mask) for _, mask in pairs])
    if images.dtype != torch.uint8 or masks.dim() != 3 or int(masks.max()) > 255 or int(masks.min()) < 0:
        raise NotInMemory("pairs are not uint8 images with 0..255 masks")
    return ImageArrays(_nchw(images), masks.to(torch.uint8))
