"""``data=segfolder``: your own segmentation data, images and their masks as files.

    root/images/scene1.jpg   root/masks/scene1.png        one set: validation and test cut from it
    root/train/images/ + root/train/masks/, root/val/..., [root/test/...]   splits given by folders

A mask is a one-channel PNG of the image's size whose pixel values are class indices (0 = background,
1, 2, ...; ``ignore_index``, 255 by default, for pixels that count nowhere), found by the image's file
stem. What the files say is found, not typed: ``num_classes`` (the largest index in any mask, plus one),
``in_channels`` and ``image_size`` from the first image (its shorter side, at most ``max_image_size``,
rounded down to a multiple of 32 so the encoder-decoder models halve it cleanly).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from dltrain.data.own.splits import split_rows
from dltrain.data.vision.image_files import (
    READ_ERRORS,
    channels_and_size,
    check_readable,
    image_files,
    load_image,
    unreadable,
)
from dltrain.data.vision.segmentation import SegmentationData, SegmentationDataset
from dltrain.errors import UserError

Pairs = list[tuple[Path, Path]]
LAYOUT = ("data.root=DIR holding images/ and masks/ (a mask per image, same file stem), or train/images/ + "
          "train/masks/ and val/images/ + val/masks/ (test/ optional)")


class ImageMaskFiles(Dataset):
    """(image, mask) PIL pairs, read when indexed; the image as ``mode`` (RGB or L), the mask as it is."""

    def __init__(self, pairs: Pairs, mode: str) -> None:
        self.pairs, self.mode = pairs, mode

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, mask = self.pairs[index]
        return load_image(image, self.mode, "data.root"), load_mask(mask)


def load_mask(path: Path) -> Image.Image:
    """A mask as its pixel values (class indices): grey or palette PNGs, read without any colour conversion."""
    try:
        with Image.open(path) as mask:
            mask.load()
            if mask.mode not in ("L", "P", "I", "I;16"):
                raise UserError(f"{path} is a {mask.mode} image, and a mask must have one channel of class indices "
                                "(0 background, 1, 2, ...); save it as a grey or palette PNG.")
            return mask.copy()
    except READ_ERRORS as error:
        raise UserError(unreadable(path, error, "data.root")) from None


def find_pairs(folder: Path) -> Pairs:
    images, masks = folder / "images", folder / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise UserError(f"{folder} has no images/ and masks/ folders; give {LAYOUT}.")
    by_stem = {path.stem: path for path in image_files(masks)}
    pairs = []
    for image in image_files(images):
        if image.stem not in by_stem:
            raise UserError(f"{image} has no mask in {masks} (a one-channel PNG named {image.stem}.png); add its "
                            "mask or remove the image.")
        pairs.append((image, by_stem[image.stem]))
    if not pairs:
        raise UserError(f"{images} holds no image files; give {LAYOUT}.")
    return pairs


class SegmentationFolderData(SegmentationData):
    def __init__(self, root: str, num_classes: int | None = None, in_channels: int | None = None,
                 image_size: int | None = None, max_image_size: int = 256, val_fraction: float = 0.15,
                 test_fraction: float = 0.15, class_names: Sequence[str] | None = None, **options: Any) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         class_names=class_names, **options)
        self.root = Path(root).expanduser()
        self.max_image_size, self.val_fraction, self.test_fraction = max_image_size, val_fraction, test_fraction

    def setup(self) -> None:
        if not self.root.is_dir():
            raise UserError(f"data.root={self.root} is not a folder (relative paths start at {Path.cwd()}); "
                            f"give {LAYOUT}.")
        given = {split: self.root / split for split in ("train", "val", "test") if (self.root / split).is_dir()}
        pairs = {split: find_pairs(folder) for split, folder in given.items()} or {"train": find_pairs(self.root)}
        check_readable([path for split in pairs.values() for pair in split for path in pair], "data.root")
        self._facts_from_files(pairs)
        if "val" not in pairs:
            train = pairs["train"]
            cut = ("val",) if "test" in pairs else ("val", "test")
            rows = split_rows(len(train), None, self.val_fraction, self.test_fraction, self.seed, str(self.root), cut)
            pairs.update({split: [train[i] for i in chosen] for split, chosen in rows.items()})
        pairs.setdefault("test", pairs["val"])
        mode = "L" if self.in_channels == 1 else "RGB"
        self.train_dataset, self.val_dataset, self.test_dataset = (
            SegmentationDataset(ImageMaskFiles(pairs[split], mode), self.transform(train=split == "train"))
            for split in ("train", "val", "test"))

    def _facts_from_files(self, pairs: dict[str, Pairs]) -> None:
        first = pairs["train"][0][0]
        channels, height, width = channels_and_size(first, "data.root")
        self.in_channels = self.in_channels or channels
        if self.image_size is None:
            size = min(height, width, self.max_image_size)
            self.image_size = size // 32 * 32 if size >= 32 else size
        if self.num_classes is None:
            largest = 0
            for _, mask in (pair for split in pairs.values() for pair in split):
                values = np.unique(np.asarray(load_mask(mask)))
                values = values[values != self.ignore_index]
                largest = max(largest, int(values.max()) if len(values) else 0)
            self.num_classes = largest + 1
        if self.num_classes < 2:
            raise UserError(f"Every mask in {self.root} is background (0) only: a segmentation model needs at least "
                            "one other class; mark the objects with 1, 2, ... in the masks.")
        if self.in_channels == 1 and len(self.mean) == 3:  # ImageNet's numbers, averaged for grey images
            self.mean, self.std = [sum(self.mean) / 3], [sum(self.std) / 3]

    def facts(self) -> dict[str, Any]:
        return {"root": str(self.root.resolve()), "num_classes": self.num_classes, "in_channels": self.in_channels,
                "image_size": self.image_size, "mean": list(self.mean), "std": list(self.std)}
