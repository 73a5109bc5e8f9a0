"""``data=coco_json``: your own detection data as COCO JSON, wherever the files are.

    dltrain model=faster_rcnn data=coco_json data.images=photos/ data.annotations=boxes.json
            [data.val_images=... data.val_annotations=...]

``data=coco`` reads the COCO data set itself (``root/train2017`` + ``root/annotations/instances_*.json``,
labels = COCO's 90 category ids). This module reads any file in that format, as annotation tools
(CVAT, Label Studio, Roboflow...) export it: ``images`` (``id``, ``file_name`` relative to
``data.images``), ``annotations`` (``image_id``, ``category_id``, ``bbox`` as x, y, width, height; masks
as polygons or RLE) and ``categories`` (``id``, ``name``). What it says is found, not typed: the class
names (the categories, in the order of their ids), their number, and the labels renumbered 1..K (0 is
the background the detectors add). The validation images come from their own JSON, else they are cut
from the training images (seeded), and double as the test images. Every image file is opened once
before training.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch.utils.data import Dataset, Subset

from dltrain.data.own.splits import split_rows
from dltrain.data.vision.detection import DetectionData, DetectionDataset
from dltrain.data.vision.image_files import channels_and_size, check_readable
from dltrain.errors import UserError


class Relabelled(Dataset):
    """COCO samples with their category ids renumbered 1..K."""

    def __init__(self, source: Dataset, labels: dict[int, int]) -> None:
        self.source, self.labels = source, labels

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        image, target = self.source[index]
        if "labels" in target:
            target["labels"] = torch.tensor([self.labels[int(c)] for c in target["labels"]], dtype=torch.long)
        return image, target


def read_coco(annotations: Path, images: Path) -> dict[str, Any]:
    """The JSON, checked: the three sections are there, and every image it lists is a file under ``images``."""
    try:
        content = json.loads(annotations.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{annotations} does not exist (relative paths start at {Path.cwd()}); give the COCO JSON "
                        "file with data.annotations=FILE.json.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{annotations} cannot be read as JSON ({error}); export the annotations as COCO JSON "
                        "again.") from None
    missing = [key for key in ("images", "annotations", "categories") if key not in content]
    if not isinstance(content, dict) or missing:
        raise UserError(f"{annotations} is not COCO JSON: it lacks {', '.join(missing) or 'its sections'}; export "
                        "the annotations as COCO JSON (images, annotations, categories).")
    if not images.is_dir():
        raise UserError(f"data.images={images} is not a folder; give the folder the JSON's file_name entries are in.")
    for entry in content["images"]:
        if not (images / entry["file_name"]).is_file():
            raise UserError(f"{annotations} lists {entry['file_name']}, which is not in {images}; put the image "
                            "there or set data.images to the folder that holds it.")
    if not content["images"]:
        raise UserError(f"{annotations} lists no images; export the annotations with their images.")
    return content


class CocoJsonData(DetectionData):
    def __init__(self, images: str, annotations: str, val_images: str | None = None,
                 val_annotations: str | None = None, num_classes: int | None = None,
                 class_names: Sequence[str] | None = None, image_size: int | None = None,
                 max_image_size: int = 512, val_fraction: float = 0.15, **options: Any) -> None:
        # null facts (found in setup) as DetectionData's "none yet": 0 and no names
        super().__init__(num_classes=num_classes or 0, image_size=image_size or 0, class_names=class_names or (),
                         **options)
        self.images, self.annotations = Path(images).expanduser(), Path(annotations).expanduser()
        self.val_files = (Path(val_images).expanduser(), Path(val_annotations).expanduser()) \
            if val_images and val_annotations else None
        self.max_image_size, self.val_fraction = max_image_size, val_fraction

    def setup(self) -> None:
        content = read_coco(self.annotations, self.images)
        categories = sorted(content["categories"], key=lambda c: c["id"])
        names = [str(c["name"]) for c in categories]
        if self.class_names and list(self.class_names) != names:
            raise UserError(f"{self.annotations} names the classes {names}, but the config says data.class_names="
                            f"{list(self.class_names)}; leave data.class_names unset so they are read from the JSON.")
        self.class_names, self.num_classes = names, len(names)
        labels = {int(c["id"]): position + 1 for position, c in enumerate(categories)}
        files = [self.images / entry["file_name"] for entry in content["images"]]
        check_readable(files, "data.annotations")
        if not self.image_size:
            _, height, width = channels_and_size(files[0], "data.annotations")
            self.image_size = min(max(height, width), self.max_image_size)

        train = self._open(self.images, self.annotations, labels)
        if self.val_files is not None:
            read_coco(self.val_files[1], self.val_files[0])
            val = self._open(*self.val_files, labels)
            train_part, val_part = train, val
        else:
            rows = split_rows(len(train), None, self.val_fraction, 0.0, self.seed, str(self.annotations), ("val",))
            train_part, val_part = Subset(train, rows["train"].tolist()), Subset(train, rows["val"].tolist())
        self.train_dataset = DetectionDataset(train_part, self.transform(train=True), self.with_masks)
        self.val_dataset = DetectionDataset(val_part, self.transform(train=False), self.with_masks)
        self.test_dataset = self.val_dataset

    def _open(self, images: Path, annotations: Path, labels: dict[int, int]) -> Dataset:
        keys = ("boxes", "labels", "masks") if self.with_masks else ("boxes", "labels")
        dataset = torchvision.datasets.CocoDetection(str(images), str(annotations))
        return Relabelled(torchvision.datasets.wrap_dataset_for_transforms_v2(dataset, target_keys=keys), labels)

    def facts(self) -> dict[str, Any]:
        return {"images": str(self.images.resolve()), "annotations": str(self.annotations.resolve()),
                "num_classes": self.num_classes, "class_names": self.class_names, "image_size": self.image_size}
