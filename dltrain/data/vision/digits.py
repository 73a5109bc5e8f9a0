"""scikit-learn's bundled handwritten digits: real, offline, 1,797 8x8 images.

The UCI optical-recognition digits (Alpaydin & Kaynak, 1998) ship inside
scikit-learn, so the default run needs no download. Pixels are 0..16; they are
scaled to uint8 0..255 and then treated like any other image dataset.
Splits are stratified and fixed by ``seed``.

The file is read from scikit-learn's package folder without importing
scikit-learn (1-2 s, which the default run would spend before its first step);
``load_digits`` reads the same file the same way (tests/test_splits.py checks).
"""
from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from dltrain.data.augment.transforms import build_image_transform
from dltrain.data.core.base import DataModule
from dltrain.data.core.device_loader import DeviceRecipe
from dltrain.data.core.splits import train_val_test
from dltrain.data.core.tensor_dataset import TensorImageDataset

NATIVE_SIZE = 8


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) float 0..16, labels (1797,) int), as ``sklearn.datasets.load_digits`` gives them."""
    sklearn = Path(importlib.util.find_spec("sklearn").submodule_search_locations[0])
    with gzip.open(sklearn / "datasets" / "data" / "digits.csv.gz", mode="rt", encoding="utf-8") as handle:
        table = np.loadtxt(handle, delimiter=",")
    return table[:, :-1].reshape(-1, NATIVE_SIZE, NATIVE_SIZE), table[:, -1].astype(int)


class DigitsData(DataModule):
    supports_device_loader = True  # all 1,797 images are one uint8 tensor

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = NATIVE_SIZE,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        mean: Sequence[float] = (0.3,),
        std: Sequence[float] = (0.37,),
        augment: dict | None = None,
        **loader_options,
    ) -> None:
        super().__init__(**loader_options)
        self.num_classes, self.in_channels, self.image_size = num_classes, in_channels, image_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.mean, self.std = mean, std
        self.augment = dict(augment or {})

    def setup(self) -> None:
        pixels, targets = load_digits()
        images = torch.from_numpy(pixels * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
        labels = torch.from_numpy(targets).long()
        train, val, test = train_val_test(list(range(len(labels))), self.val_fraction, self.test_fraction,
                                          self.seed, stratify=labels)
        if self.in_channels != 1:  # e.g. a 3-channel model on grey digits
            images = images.expand(-1, self.in_channels, -1, -1)

        def transform(train_split: bool):
            return build_image_transform(self.image_size, NATIVE_SIZE, self.mean * self.in_channels,
                                         self.std * self.in_channels, train_split, **self.augment)

        self.train_dataset = TensorImageDataset(images[train], labels[train], transform(True))
        self.val_dataset = TensorImageDataset(images[val], labels[val], transform(False))
        self.test_dataset = TensorImageDataset(images[test], labels[test], transform(False))

    def device_recipe(self) -> DeviceRecipe:
        return DeviceRecipe(list(self.mean) * self.in_channels, list(self.std) * self.in_channels, self.image_size,
                            self.augment)
