"""scikit-learn's bundled handwritten digits: real, offline, 1,797 8x8 images.

The UCI optical-recognition digits (Alpaydin & Kaynak, 1998) ship inside
scikit-learn, so the default run needs no download. Pixels are 0..16; they are
scaled to uint8 0..255 and then treated like any other image dataset.
Splits are stratified and fixed by ``seed``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from dltrain.data.augment.transforms import build_image_transform
from dltrain.data.core.base import DataModule
from dltrain.data.core.device_loader import DeviceRecipe
from dltrain.data.core.tensor_dataset import TensorImageDataset

NATIVE_SIZE = 8


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
        digits = load_digits()
        images = torch.from_numpy(digits.images * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
        labels = torch.from_numpy(digits.target).long()
        index = list(range(len(labels)))
        rest, test = train_test_split(index, test_size=self.test_fraction, stratify=labels, random_state=self.seed)
        train, val = train_test_split(
            rest, test_size=self.val_fraction / (1 - self.test_fraction),
            stratify=labels[rest], random_state=self.seed,
        )
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
