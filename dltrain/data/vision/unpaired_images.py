"""Unpaired images from two domains A and B (CycleGAN).

* ``DigitsStrokesData`` (offline, the default): the scikit-learn digits
  resized to ``image_size``; domain A is the digit as drawn (thin strokes),
  domain B the same kind of digit with strokes thickened by a grey-scale
  dilation (a 3x3 max filter). For training, A comes from one half of the
  training digits and B from the other half, so no B is the translation of an
  A in the same batch: the pairs are truly unpaired. Validation and test
  images are aligned (B[i] is A[i] dilated), which lets the task also report
  the error of the translation against the truth.
* ``UnpairedImageFolder``: the CycleGAN datasets' layout (horse2zebra,
  monet2photo...): ``root/trainA``, ``root/trainB``, ``root/testA``,
  ``root/testB`` (the test folders serve as validation and test). With
  ``download: true`` and a ``name`` the archive is fetched first (which fails
  offline with one sentence).

Batches are (a, b), both in [-1, 1] (mean 0.5, std 0.5).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from dltrain.data.core.base import DataModule
from dltrain.data.core.splits import train_val_test
from dltrain.data.vision.paired_images import (
    digit_images,
    download_archive,
    image_files,
    read_image,
    to_tanh_range,
)
from dltrain.errors import UserError

CYCLEGAN_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"


def dilate(images: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Grey-scale dilation: every pixel becomes the maximum of its size x size neighbourhood."""
    return F.max_pool2d(images, size, stride=1, padding=size // 2)


class DigitsStrokesData(DataModule):
    """Offline unpaired domains: thin-stroke digits (A) and dilated, thick-stroke digits (B)."""

    aligned_validation = True  # val / test B[i] is the translation of A[i]

    def __init__(self, in_channels: int = 1, image_size: int = 16, val_fraction: float = 0.15,
                 test_fraction: float = 0.15, mean: Sequence[float] = (0.5,), std: Sequence[float] = (0.5,),
                 **loader_options) -> None:
        super().__init__(**loader_options)
        self.in_channels, self.image_size = in_channels, image_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.mean, self.std = mean, std

    def setup(self) -> None:
        if self.in_channels != 1 or tuple(self.mean) != (0.5,) or tuple(self.std) != (0.5,):
            raise UserError("The digit stroke domains are one grey channel in [-1, 1]; keep data.in_channels=1, "
                            "data.mean=[0.5] and data.std=[0.5].")
        thin, labels = digit_images(self.image_size)
        thick = dilate(thin)
        thin, thick = to_tanh_range(thin), to_tanh_range(thick)
        train, val, test = train_val_test(list(range(len(labels))), self.val_fraction, self.test_fraction,
                                          self.seed, stratify=labels)
        half = len(train) // 2
        self.train_dataset = TensorDataset(thin[train[:half]], thick[train[half:2 * half]])
        self.val_dataset = TensorDataset(thin[val], thick[val])
        self.test_dataset = TensorDataset(thin[test], thick[test])


class UnpairedFiles(Dataset):
    """Item i: (A[i], B[i mod len(B)]) in [-1, 1]; the loader's shuffle makes the pairs random."""

    def __init__(self, files_a: list[Path], files_b: list[Path], image_size: int, channels: int) -> None:
        self.files_a, self.files_b, self.image_size, self.channels = files_a, files_b, image_size, channels

    def __len__(self) -> int:
        return len(self.files_a)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = read_image(self.files_a[index], self.image_size, self.channels)
        b = read_image(self.files_b[index % len(self.files_b)], self.image_size, self.channels)
        return to_tanh_range(a), to_tanh_range(b)


class UnpairedImageFolder(DataModule):
    """``root/{trainA,trainB,testA,testB}/*.jpg`` (the CycleGAN datasets)."""

    aligned_validation = False

    def __init__(self, root: str, name: str | None = None, download: bool = False, in_channels: int = 3,
                 image_size: int = 256, mean: Sequence[float] = (0.5, 0.5, 0.5),
                 std: Sequence[float] = (0.5, 0.5, 0.5), **loader_options) -> None:
        super().__init__(**loader_options)
        self.root, self.name, self.download = Path(root), name, download
        self.in_channels, self.image_size, self.mean, self.std = in_channels, image_size, mean, std

    def setup(self) -> None:
        folder = self.root / self.name if self.name else self.root
        if self.download and self.name and not image_files(folder / "trainA"):
            download_archive(CYCLEGAN_URL.format(name=self.name), self.root, f"the CycleGAN dataset '{self.name}'")
        files = {split: image_files(folder / split) for split in ("trainA", "trainB", "testA", "testB")}
        if not all(files.values()):
            raise UserError(f"{folder.resolve()} must hold image folders trainA/, trainB/, testA/ and testB/ "
                            "(the CycleGAN layout); set data.root=PATH to such a folder.")
        self.train_dataset = UnpairedFiles(files["trainA"], files["trainB"], self.image_size, self.in_channels)
        self.val_dataset = UnpairedFiles(files["testA"], files["testB"], self.image_size, self.in_channels)
        self.test_dataset = self.val_dataset
