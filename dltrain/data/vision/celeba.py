"""CelebA (Liu et al., 2015): 202,599 aligned 178x218 face photos, the DCGAN paper's faces set.

torchvision's ``CelebA`` downloads it (``download: true``; it fetches from
Google Drive with the ``gdown`` package, and Drive often refuses with a quota
error: then put the files in place by hand). Offline, or when the files are
missing, setup fails with one sentence saying where they go.

Splits: the official partition (list_eval_partition.txt): 162,770 train,
19,867 valid, 19,962 test.

Images: the central 178x178 square (the face; the crop of the DCGAN
reference code and most GAN papers), resized to ``image_size`` (64 by
default), normalised with mean = std = 0.5, i.e. to [-1, 1], the generators'
tanh range.

Labels: a GAN needs none, but the GAN tasks score samples with a classifier
trained on labelled images (dltrain/metrics/sample_quality.py: its features
define the Fréchet distance). So one of the 40 binary attributes,
``label_attribute`` (default ``Male``), is each image's label, with
``num_classes: 2``; the other attributes are not exposed.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torchvision
from torch.utils.data import Dataset
from torchvision.transforms import v2

from dltrain.data.core.base import DataModule
from dltrain.data.vision.classification import not_on_disk
from dltrain.errors import UserError

SPLITS = {"train": "train", "val": "valid", "test": "test"}  # ours -> torchvision's names


def face_transform(crop_size: int, image_size: int, mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """PIL face photo -> the central ``crop_size`` square, resized to ``image_size``, normalised."""
    return v2.Compose([
        v2.ToImage(),
        v2.CenterCrop(crop_size),
        v2.Resize(image_size, antialias=True),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(mean), list(std)),
    ])


class AttributeLabel(Dataset):
    """(image, 40 attributes) -> (image, one attribute as the class 0 / 1)."""

    def __init__(self, faces: Dataset, index: int) -> None:
        self.faces, self.index = faces, index

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, item: int):
        image, attributes = self.faces[item]
        return image, int(attributes[self.index])


class CelebAData(DataModule):
    def __init__(
        self,
        root: str,
        image_size: int = 64,
        crop_size: int = 178,
        in_channels: int = 3,
        num_classes: int = 2,
        label_attribute: str = "Male",
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        download: bool = True,
        **loader_options,
    ) -> None:
        super().__init__(**loader_options)
        if in_channels != 3 or num_classes != 2:
            raise UserError(f"CelebA has colour images (data.in_channels=3) and binary attributes "
                            f"(data.num_classes=2); got in_channels={in_channels}, num_classes={num_classes}.")
        self.root, self.download = str(root), download
        self.image_size, self.crop_size = image_size, crop_size
        self.in_channels, self.num_classes = in_channels, num_classes
        self.label_attribute, self.mean, self.std = label_attribute, list(mean), list(std)

    def _open(self, split: str) -> torchvision.datasets.CelebA:
        transform = face_transform(self.crop_size, self.image_size, self.mean, self.std)
        try:
            return torchvision.datasets.CelebA(self.root, split=split, target_type="attr", transform=transform,
                                               download=self.download)
        except Exception as error:  # offline: RuntimeError (no gdown, not found), URLError, OSError...
            reason = "torchvision fetches it with gdown: pip install gdown" if "gdown" in str(error) else ""
            raise not_on_disk("CelebA", self.root, self.download, error, reason) from None

    def _labelled(self, faces: torchvision.datasets.CelebA) -> AttributeLabel:
        names = [name for name in faces.attr_names if name]  # the header line ends in a space: drop the empty name
        if self.label_attribute not in names:
            raise UserError(f"data.label_attribute={self.label_attribute} is not a CelebA attribute; "
                            f"choose one of {', '.join(names)}.")
        return AttributeLabel(faces, names.index(self.label_attribute))

    def setup(self) -> None:
        self.train_dataset, self.val_dataset, self.test_dataset = (
            self._labelled(self._open(SPLITS[split])) for split in ("train", "val", "test"))
