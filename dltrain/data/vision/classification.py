"""torchvision image-classification datasets (MNIST, Fashion-MNIST, CIFAR-10/100) and image folders.

The real download code of torchvision is kept (``download: true`` by default).
Offline with no copy on disk, setup fails with one sentence that says where
to put the files. The validation split is carved from the official training
set with a fixed seed; the official test set is the test split.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch.utils.data import Dataset, Subset

from dltrain.data.augment.transforms import build_image_transform
from dltrain.data.core.base import DataModule
from dltrain.data.core.device_loader import DeviceRecipe
from dltrain.errors import UserError

# what torchvision looks for under root, so the error message can say where files go
EXPECTED_FILES = {
    "MNIST": "MNIST/raw/ (train-images-idx3-ubyte.gz and the other three MNIST files)",
    "FashionMNIST": "FashionMNIST/raw/ (the four Fashion-MNIST idx .gz files)",
    "CIFAR10": "cifar-10-batches-py/ (extracted from cifar-10-python.tar.gz)",
    "CIFAR100": "cifar-100-python/ (extracted from cifar-100-python.tar.gz)",
    "CelebA": "celeba/ (img_align_celeba/ extracted from img_align_celeba.zip, beside the five annotation files "
              "list_attr_celeba.txt, list_eval_partition.txt, list_bbox_celeba.txt, "
              "list_landmarks_align_celeba.txt and identity_CelebA.txt)",
}


def not_on_disk(name: str, root: str, download: bool, error: Exception, reason: str = "") -> UserError:
    """The one-sentence error for a torchvision dataset that is neither on disk nor downloadable."""
    where = Path(root).resolve() / EXPECTED_FILES.get(name, "")
    how = "it could not be downloaded" if download else "data.download=false"
    return UserError(
        f"{name} is not on disk and {how} ({reason or type(error).__name__}): put it in {where}, "
        f"or set data.root=DIR to where it is, or connect to the internet with data.download=true."
    )


class _Transformed(Dataset):
    """A subset of a dataset with its own transform (train and val share one download)."""

    def __init__(self, subset: Dataset, transform) -> None:
        self.subset, self.transform = subset, transform

    def __len__(self) -> int:
        return len(self.subset)

    def __getitem__(self, index: int):
        image, label = self.subset[index]
        return self.transform(image), label


class VisionClassificationData(DataModule):
    """One of torchvision's in-package classification datasets, by class name."""

    supports_device_loader = True  # MNIST, Fashion-MNIST, CIFAR-10/100 keep every image in one array (.data)

    def __init__(
        self,
        name: str,
        root: str,
        num_classes: int,
        in_channels: int,
        image_size: int,
        native_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        download: bool = True,
        val_size: int = 5000,
        augment: dict | None = None,
        **loader_options,
    ) -> None:
        super().__init__(**loader_options)
        self.name, self.root, self.download = name, str(root), download
        self.num_classes, self.in_channels, self.image_size = num_classes, in_channels, image_size
        self.native_size, self.mean, self.std = native_size, mean, std
        self.val_size = val_size
        self.augment = dict(augment or {})

    def _open(self, train: bool) -> Dataset:
        dataset_class = getattr(torchvision.datasets, self.name)
        try:
            return dataset_class(self.root, train=train, download=self.download)
        except Exception as error:  # offline downloads raise URLError, RuntimeError, OSError...
            raise not_on_disk(self.name, self.root, self.download, error) from None

    def setup(self) -> None:
        full_train, test = self._open(train=True), self._open(train=False)
        order = torch.randperm(len(full_train), generator=torch.Generator().manual_seed(self.seed)).tolist()
        val_index, train_index = order[: self.val_size], order[self.val_size:]
        self.train_dataset = _Transformed(Subset(full_train, train_index), self._transform(train=True))
        self.val_dataset = _Transformed(Subset(full_train, val_index), self._transform(train=False))
        self.test_dataset = _Transformed(test, self._transform(train=False))

    def _transform(self, train: bool):
        return build_image_transform(self.image_size, self.native_size, self.mean, self.std, train, **self.augment)

    def device_recipe(self) -> DeviceRecipe:
        return DeviceRecipe(self.mean, self.std, self.image_size, self.augment)


class ImageFolderData(VisionClassificationData):
    """``root/train/<class>/*.jpg`` and ``root/val/<class>/*.jpg`` (and optional ``root/test``)."""

    supports_device_loader = False  # image files, decoded one by one

    def __init__(self, root: str, **options) -> None:
        super().__init__(name="ImageFolder", root=root, download=False, **options)

    def _folder(self, split: str) -> Dataset | None:
        path = Path(self.root) / split
        if not path.is_dir():
            return None
        dataset = torchvision.datasets.ImageFolder(str(path))
        if len(dataset.classes) != self.num_classes:
            raise UserError(
                f"{path} has {len(dataset.classes)} class folders but data.num_classes={self.num_classes}; "
                f"run with data.num_classes={len(dataset.classes)}."
            )
        return dataset

    def setup(self) -> None:
        train, val = self._folder("train"), self._folder("val")
        if train is None or val is None:
            raise UserError(
                f"data.root={Path(self.root).resolve()} must hold train/<class>/ and val/<class>/ image "
                f"folders; set data.root=PATH to such a folder."
            )
        test = self._folder("test") or val
        self.train_dataset = _Transformed(train, self._transform(train=True))
        self.val_dataset = _Transformed(val, self._transform(train=False))
        self.test_dataset = _Transformed(test, self._transform(train=False))
