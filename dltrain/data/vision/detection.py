"""Object-detection data: images with a variable number of boxes (and masks) each.

Box format, everywhere in dltrain's detection code: **xyxy in pixels**
(``x1, y1, x2, y2``; ``x2``/``y2`` exclusive edges, the format torchvision's
detectors and ``torchvision.ops`` take). Datasets that store another format are
converted once when loaded, with ``torchvision.ops.box_convert`` (COCO's
``xywh``) — or with ``tv_tensors.BoundingBoxes``, which remembers its format.

A sample is ``(image, target)``: a float image ``3xHxW`` in ``[0, 1]`` (the
detectors normalise inside, as torchvision's do) and a dict with ``boxes``
(float ``Nx4``), ``labels`` (long ``N``, ``1..num_classes``; 0 is background)
and, when the data has them, ``masks`` (bool ``NxHxW``). A batch is a list of
images and a list of target dicts (``detection_collate``): box counts differ
per image, so targets cannot be stacked.

Augmentation is box-aware: ``torchvision.transforms.v2`` moves
``BoundingBoxes`` and ``Mask`` along with the image when it flips or resizes.

Datasets: the generated shapes (``data=shapes_det``, offline, see
``dltrain/data/vision/shapes.py``), Pascal VOC (``data=voc_det``, downloaded by
torchvision) and COCO JSON (``data=coco``, files you place under ``data.root``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.ops import box_convert
from torchvision.transforms import v2

from dltrain.data.core.base import DataModule
from dltrain.data.vision.shapes import SHAPE_CLASSES, generate_shapes
from dltrain.errors import UserError

Target = dict[str, torch.Tensor]


def detection_transform(image_size: int, train: bool, horizontal_flip: bool = True) -> v2.Compose:
    """Resize to ``image_size`` (square) and, in training, flip: boxes and masks move with the image."""
    steps: list[v2.Transform] = [v2.ToImage(), v2.Resize((image_size, image_size), antialias=True)]
    if train and horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    # drop boxes a transform squeezed to nothing (and their labels / masks, found by key)
    steps += [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=1.0),
              v2.ToDtype(torch.float32, scale=True)]
    return v2.Compose(steps)


def as_tv_target(boxes: torch.Tensor, labels: torch.Tensor, canvas_size: tuple[int, int],
                 masks: torch.Tensor | None = None, box_format: str = "xyxy") -> dict[str, Any]:
    """A target dict the v2 transforms understand; boxes in ``box_format`` are converted to xyxy."""
    xyxy = box_convert(boxes.float(), in_fmt=box_format, out_fmt="xyxy")
    target: dict[str, Any] = {
        "boxes": tv_tensors.BoundingBoxes(xyxy, format="XYXY", canvas_size=canvas_size),
        "labels": labels.long(),
    }
    if masks is not None:
        target["masks"] = tv_tensors.Mask(masks.bool())
    return target


def _plain(target: dict[str, Any]) -> Target:
    """tv_tensors back to plain tensors (what the models and the trainer's device moves expect)."""
    plain = {k: v.as_subclass(torch.Tensor) if isinstance(v, torch.Tensor) else v for k, v in target.items()}
    if "masks" in plain:
        plain["masks"] = plain["masks"].bool()
    return plain


class DetectionDataset(Dataset):
    """``(image, target)`` pairs from any source of samples, through a box-aware transform."""

    def __init__(self, source: Sequence[tuple[Any, dict[str, Any]]] | Dataset, transform: Callable,
                 with_masks: bool = False) -> None:
        self.source, self.transform, self.with_masks = source, transform, with_masks

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        image, target = self.source[index]
        if "boxes" not in target:  # a COCO image without annotations: an empty target, not a crash
            height, width = v2.functional.get_size(image)
            empty_masks = torch.zeros(0, height, width, dtype=torch.bool)
            target = as_tv_target(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), (height, width),
                                  empty_masks if self.with_masks else None)
        image, target = self.transform(image, target)
        return image.as_subclass(torch.Tensor), _plain(target)


def detection_collate(batch: list[tuple[torch.Tensor, Target]]) -> tuple[list[torch.Tensor], list[Target]]:
    """A list of images and a list of per-image target dicts (box counts differ, so nothing is stacked)."""
    images, targets = zip(*batch)
    return list(images), list(targets)


class DetectionData(DataModule):
    """Shared by every detection data module: the static facts and the collate function.

    ``num_classes`` counts object classes only; the torchvision detectors add
    the background class themselves. ``with_masks`` says whether targets carry
    instance masks (Mask R-CNN needs them).
    """

    collate_fn = staticmethod(detection_collate)

    def __init__(self, num_classes: int, image_size: int, class_names: Sequence[str] = (),
                 with_masks: bool = False, horizontal_flip: bool = True, in_channels: int = 3,
                 **loader_options) -> None:
        super().__init__(**loader_options)
        self.in_channels = in_channels  # RGB: the torchvision detectors normalise three channels
        if class_names and len(class_names) != num_classes:
            raise UserError(
                f"data.num_classes={num_classes} but data.class_names lists {len(class_names)} names; "
                "make them agree."
            )
        self.num_classes, self.image_size, self.with_masks = num_classes, image_size, with_masks
        self.class_names = list(class_names)
        self.horizontal_flip = horizontal_flip

    def transform(self, train: bool) -> v2.Compose:
        return detection_transform(self.image_size, train, self.horizontal_flip)


class ShapesDetectionData(DetectionData):
    """The generated shapes (circles, squares, triangles on textured backgrounds) with boxes and masks.

    Train, validation and test images come from different seeds
    (``seed``, ``seed + 1``, ``seed + 2``), so the splits never share an image.
    """

    def __init__(self, num_classes: int = len(SHAPE_CLASSES), class_names: Sequence[str] = SHAPE_CLASSES,
                 num_train: int = 1000, num_val: int = 200, num_test: int = 200, max_objects: int = 3,
                 image_size: int = 64, **options) -> None:
        super().__init__(num_classes=num_classes, image_size=image_size, class_names=class_names, **options)
        self.sizes = {"train": num_train, "val": num_val, "test": num_test}
        self.max_objects = max_objects

    def _split(self, split: str, offset: int) -> DetectionDataset:
        samples = generate_shapes(self.sizes[split], self.image_size, self.seed + offset, self.max_objects,
                                  tuple(self.class_names))
        pairs = [(s["image"], as_tv_target(s["boxes"], s["labels"], (self.image_size, self.image_size),
                                            s["masks"] if self.with_masks else None)) for s in samples]
        return DetectionDataset(pairs, self.transform(train=split == "train"))

    def setup(self) -> None:
        self.train_dataset = self._split("train", 0)
        self.val_dataset = self._split("val", 1)
        self.test_dataset = self._split("test", 2)


class VOCDetectionData(DetectionData):
    """Pascal VOC detection (Everingham et al., 2010): 20 classes, the ``train`` / ``val`` sets of a year.

    torchvision downloads it into ``data.root``; the validation set doubles as
    the test set (VOC 2012's test annotations are not public).
    """

    def __init__(self, root: str, year: str = "2012", download: bool = True, **options) -> None:
        super().__init__(**options)
        self.root, self.year, self.download = str(root), str(year), download

    def _open(self, image_set: str, train: bool) -> DetectionDataset:
        try:
            dataset = torchvision.datasets.VOCDetection(self.root, year=self.year, image_set=image_set,
                                                        download=self.download)
        except Exception as error:  # offline downloads raise URLError, RuntimeError, OSError...
            how = "could not be downloaded" if self.download else "data.download=false"
            raise UserError(
                f"Pascal VOC {self.year} is not in {Path(self.root).resolve()} and {how} ({type(error).__name__}); "
                f"put VOCdevkit/VOC{self.year}/ there, set data.root=DIR to where it is, or connect to the internet."
            ) from None
        # the wrapper turns VOC's XML into xyxy BoundingBoxes and label indices (1..20, 0 = background)
        return DetectionDataset(torchvision.datasets.wrap_dataset_for_transforms_v2(dataset),
                                self.transform(train))

    def setup(self) -> None:
        self.train_dataset = self._open("train", train=True)
        self.val_dataset = self._open("val", train=False)
        self.test_dataset = self.val_dataset


class CocoDetectionData(DetectionData):
    """COCO-format JSON (Lin et al., 2014): ``root/train2017`` + ``root/annotations/instances_train2017.json``.

    COCO stores boxes as ``xywh``; torchvision's v2 wrapper converts them to
    xyxy (``box_convert``'s rule) and decodes polygons / RLE into masks.
    Labels are COCO's category ids (1..90, with gaps), hence ``num_classes: 90``.
    """

    def __init__(self, root: str, train_split: str = "train2017", val_split: str = "val2017",
                 **options) -> None:
        super().__init__(**options)
        self.root, self.train_split, self.val_split = Path(root), train_split, val_split

    def _open(self, split: str, train: bool) -> DetectionDataset:
        images, annotations = self.root / split, self.root / "annotations" / f"instances_{split}.json"
        if not images.is_dir() or not annotations.is_file():
            raise UserError(
                f"COCO split {split} needs {images.resolve()}/ and {annotations.resolve()}, and they are not there; "
                "download them from cocodataset.org or set data.root=DIR to where they are."
            )
        keys = ("boxes", "labels", "masks") if self.with_masks else ("boxes", "labels")
        dataset = torchvision.datasets.CocoDetection(str(images), str(annotations))
        return DetectionDataset(torchvision.datasets.wrap_dataset_for_transforms_v2(dataset, target_keys=keys),
                                self.transform(train), self.with_masks)

    def setup(self) -> None:
        self.train_dataset = self._open(self.train_split, train=True)
        self.val_dataset = self._open(self.val_split, train=False)
        self.test_dataset = self.val_dataset
