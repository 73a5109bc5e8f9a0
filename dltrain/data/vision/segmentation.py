"""Segmentation datasets: images with per-pixel class masks, transformed jointly.

A random crop or flip must move the mask exactly as the image, and a mask
must be resized with *nearest* interpolation (blending class 1 and class 3
gives no meaningful class 2). torchvision.transforms.v2 does both when the
mask is wrapped as ``tv_tensors.Mask``: one call draws the random parameters
once and applies them to image and mask, interpolating masks by nearest
neighbour. Crop padding fills masks with ``ignore_index``, so padded pixels
count in neither loss nor metrics.

Datasets (``num_classes`` includes the background):

* ``ShapesSegmentationData`` (data=shapes_seg): generated offline by
  ``dltrain.data.vision.shapes`` (circles, squares, triangles on textured backgrounds).
* ``VOCSegmentationData`` (data=voc_seg): PASCAL VOC 2012, 20 classes + background,
  object borders labelled 255; downloaded by torchvision.
* ``OxfordPetData`` (data=oxford_pet): Oxford-IIIT Pet trimaps as pet vs background,
  the uncertain border labelled ``ignore_index``; downloaded by torchvision.
* ``CityscapesData`` (data=cityscapes): the 19 training classes from a local copy
  (Cityscapes needs a login, so it cannot be downloaded here).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from torch.utils.data import Dataset, Subset
from torchvision import tv_tensors
from torchvision.transforms import v2

from dltrain.data.core.base import DataModule
from dltrain.data.core.device_loader import DeviceRecipe
from dltrain.data.vision.shapes import SHAPE_CLASSES, generate_shapes
from dltrain.errors import UserError


def build_joint_transform(
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    train: bool,
    ignore_index: int = 255,
    resize: bool = True,
    scale: Sequence[float] = (1.0, 1.0),
    random_crop_padding: int = 0,
    horizontal_flip: bool = False,
) -> Callable[[Any, Any], tuple[torch.Tensor, torch.Tensor]]:
    """(image, mask) -> (normalised float image, long mask), the same geometry applied to both."""
    fill = {tv_tensors.Image: 0, tv_tensors.Mask: ignore_index}
    geometry: list[v2.Transform] = [v2.Identity()]  # Compose needs one transform
    if resize:
        geometry += [v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)]
    if train:
        if tuple(scale) != (1.0, 1.0):  # scale jitter, then a crop back to image_size
            geometry += [v2.RandomResize(int(image_size * scale[0]), int(image_size * scale[1]) + 1, antialias=True)]
        if random_crop_padding or tuple(scale) != (1.0, 1.0):
            geometry.append(v2.RandomCrop(image_size, padding=random_crop_padding or None, pad_if_needed=True,
                                          fill=fill))
        if horizontal_flip:
            geometry.append(v2.RandomHorizontalFlip())
    joint = v2.Compose(geometry)
    to_float = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])

    def transform(image: Any, mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
        image = tv_tensors.Image(image if isinstance(image, torch.Tensor) else v2.functional.pil_to_tensor(image))
        mask = tv_tensors.Mask(mask if isinstance(mask, torch.Tensor) else torch.from_numpy(np.array(mask)))
        image, mask = joint(image, mask)
        return to_float(image.as_subclass(torch.Tensor)), mask.as_subclass(torch.Tensor).long()

    return transform


class SegmentationDataset(Dataset):
    """(image, mask) pairs from ``source``, with ``target_map`` (label recoding) then the joint transform."""

    def __init__(self, source: Any, transform: Callable, target_map: torch.Tensor | None = None) -> None:
        self.source, self.transform, self.target_map = source, transform, target_map

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.source[index]
        if self.target_map is not None:
            mask = self.target_map[torch.from_numpy(np.array(mask)).long()]
        return self.transform(image, mask)


class SegmentationData(DataModule):
    """Shared facts and transforms; subclasses fill the three datasets in ``setup``."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        image_size: int = 64,
        ignore_index: int = 255,
        class_names: Sequence[str] | None = None,
        mean: Sequence[float] = (0.485, 0.456, 0.406),
        std: Sequence[float] = (0.229, 0.224, 0.225),
        augment: dict | None = None,
        **loader_options,
    ) -> None:
        super().__init__(**loader_options)
        self.num_classes, self.in_channels, self.image_size = num_classes, in_channels, image_size
        self.ignore_index = ignore_index
        self.class_names = list(class_names) if class_names else None
        self.mean, self.std = mean, std
        self.augment = dict(augment or {})

    def transform(self, train: bool, resize: bool = True) -> Callable:
        return build_joint_transform(self.image_size, self.mean, self.std, train, self.ignore_index, resize,
                                     **(self.augment if train else {}))


class ShapesSegmentationData(SegmentationData):
    """Generated circles / squares / triangles (see ``dltrain.data.vision.shapes``); offline and deterministic."""

    supports_device_loader = True  # generated in memory at image_size: uint8 images and masks

    def __init__(self, num_train: int = 1000, num_val: int = 200, num_test: int = 200, max_objects: int = 3,
                 **options) -> None:
        super().__init__(**options)
        self.num_train, self.num_val, self.num_test, self.max_objects = num_train, num_val, num_test, max_objects

    def setup(self) -> None:
        if self.num_classes != len(SHAPE_CLASSES) + 1:
            raise UserError(f"The shapes dataset has {len(SHAPE_CLASSES) + 1} classes with the background; "
                            f"set data.num_classes={len(SHAPE_CLASSES) + 1}.")

        def split(count: int, offset: int, train: bool) -> SegmentationDataset:
            # disjoint seeds per split: seed * 3 + 0 / 1 / 2
            samples = generate_shapes(count, self.image_size, self.seed * 3 + offset, self.max_objects)
            pairs = [(s["image"], s["semantic"]) for s in samples]
            return SegmentationDataset(pairs, self.transform(train, resize=False))

        self.train_dataset = split(self.num_train, 0, True)
        self.val_dataset = split(self.num_val, 1, False)
        self.test_dataset = split(self.num_test, 2, False)

    def device_recipe(self) -> DeviceRecipe:
        return DeviceRecipe(self.mean, self.std, self.image_size, self.augment, mask_fill=self.ignore_index)


def _download_error(name: str, root: str, error: Exception) -> UserError:
    return UserError(
        f"{name} is not in {Path(root).resolve()} and could not be downloaded ({type(error).__name__}); "
        f"connect to the internet once, or set data.root=DIR to a folder that holds it."
    )


class VOCSegmentationData(SegmentationData):
    """PASCAL VOC 2012 segmentation: train (1,464 images) split into train / val, the official val as test."""

    def __init__(self, root: str, download: bool = True, val_size: int = 200, **options) -> None:
        super().__init__(**options)
        self.root, self.download, self.val_size = str(root), download, val_size

    def setup(self) -> None:
        try:
            train = torchvision.datasets.VOCSegmentation(self.root, "2012", "train", download=self.download)
            test = torchvision.datasets.VOCSegmentation(self.root, "2012", "val", download=self.download)
        except Exception as error:  # offline: URLError, RuntimeError, OSError...
            raise _download_error("PASCAL VOC 2012", self.root, error) from None
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(self.seed)).tolist()
        self.train_dataset = SegmentationDataset(Subset(train, order[self.val_size:]), self.transform(True))
        self.val_dataset = SegmentationDataset(Subset(train, order[: self.val_size]), self.transform(False))
        self.test_dataset = SegmentationDataset(test, self.transform(False))


class OxfordPetData(SegmentationData):
    """Oxford-IIIT Pet trimaps as 2 classes: 0 background, 1 pet, the border ``ignore_index``."""

    def __init__(self, root: str, download: bool = True, val_size: int = 500, **options) -> None:
        super().__init__(**options)
        self.root, self.download, self.val_size = str(root), download, val_size

    def setup(self) -> None:
        try:
            trainval = torchvision.datasets.OxfordIIITPet(self.root, "trainval", "segmentation",
                                                          download=self.download)
            test = torchvision.datasets.OxfordIIITPet(self.root, "test", "segmentation", download=self.download)
        except Exception as error:
            raise _download_error("Oxford-IIIT Pet", self.root, error) from None
        # trimap values: 1 pet, 2 background, 3 border (uncertain)
        trimap = torch.tensor([self.ignore_index, 1, 0, self.ignore_index])
        order = torch.randperm(len(trainval), generator=torch.Generator().manual_seed(self.seed)).tolist()
        self.train_dataset = SegmentationDataset(Subset(trainval, order[self.val_size:]), self.transform(True), trimap)
        self.val_dataset = SegmentationDataset(Subset(trainval, order[: self.val_size]), self.transform(False), trimap)
        self.test_dataset = SegmentationDataset(test, self.transform(False), trimap)


class CityscapesData(SegmentationData):
    """Cityscapes fine annotations from ``root`` (leftImg8bit/ and gtFine/), label ids mapped to the 19 train ids."""

    def __init__(self, root: str, **options) -> None:
        super().__init__(**options)
        self.root = str(root)

    def setup(self) -> None:
        root = Path(self.root)
        if not (root / "leftImg8bit").is_dir() or not (root / "gtFine").is_dir():
            raise UserError(
                f"Cityscapes must be downloaded by hand (it needs a login): put leftImg8bit/ and gtFine/ in "
                f"{root.resolve()}, or set data.root=DIR to the folder that holds them."
            )
        classes = torchvision.datasets.Cityscapes.classes
        train_ids = torch.full((max(c.id for c in classes) + 1,), self.ignore_index, dtype=torch.long)
        for c in classes:
            if 0 <= c.train_id < 255:
                train_ids[c.id] = c.train_id

        def split(name: str, train: bool) -> SegmentationDataset:
            source = torchvision.datasets.Cityscapes(self.root, split=name, mode="fine", target_type="semantic")
            return SegmentationDataset(source, self.transform(train), train_ids)

        # the official test labels are withheld: val serves as validation and test
        self.train_dataset, self.val_dataset = split("train", True), split("val", False)
        self.test_dataset = self.val_dataset
