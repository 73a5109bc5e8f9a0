"""torchvision image-classification datasets (MNIST, Fashion-MNIST, CIFAR-10/100) and your own image folders.

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
from dltrain.data.own.facts import agree
from dltrain.data.own.splits import cut_from_training
from dltrain.data.own.targets import number_the_classes
from dltrain.data.vision.image_files import LabelledImageFiles, channels_and_size, check_readable
from dltrain.data.vision.image_layouts import find_labelled_images
from dltrain.errors import UserError

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

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


class ImageFolderData(DataModule):
    """Your own labelled images, in class folders or listed in a CSV (layouts: ``image_layouts.py``).

    What the files say is found, not typed (``facts``): the class names (folder names or the CSV's labels,
    sorted), their number, and, unless given, ``in_channels`` (1 when the first training image is grey, else
    3) and ``image_size`` (its shorter side, at most ``max_image_size``: photos are resized to what a
    classifier trains at). ``mean`` / ``std`` unless given: ImageNet's (what pre-trained torchvision models
    expect), averaged over the channels for grey images. Every file is opened once before training
    (``verify_images``), so an unreadable one is named before anything is written.
    """

    def __init__(self, root: str | None = None, labels: str | None = None, num_classes: int | None = None,
                 class_names: Sequence[str] | None = None, in_channels: int | None = None,
                 image_size: int | None = None, max_image_size: int = 224, native_size: int = 0,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 val_fraction: float = 0.15, test_fraction: float = 0.15, verify_images: bool = True,
                 augment: dict | None = None, **loader_options) -> None:
        super().__init__(**loader_options)
        self.root = Path(root).expanduser() if root else None
        self.labels = Path(labels).expanduser() if labels else None
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else None
        self.in_channels, self.image_size, self.max_image_size = in_channels, image_size, max_image_size
        self.native_size, self.mean, self.std = native_size, mean, std
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.verify_images = verify_images
        self.augment = dict(augment or {})

    def setup(self) -> None:
        where = "data.labels" if self.labels else "data.root"
        source = str(self.labels or self.root)
        found = find_labelled_images(self.root, self.labels)
        files = [path for pairs in found.values() for path, _ in pairs]
        if self.verify_images:
            check_readable(files, where)
        samples, self.class_names = number_the_classes(found, self.class_names, source)
        agree(self, {"num_classes": len(self.class_names)}, source)
        self._image_facts(found["train"][0][0], where)
        if "val" not in samples:  # one set of images: validation (and test) cut from it, by class
            cut = ("val",) if "test" in samples else ("val", "test")
            cut_from_training(samples, cut, self.val_fraction, self.test_fraction, self.seed, source)
        samples.setdefault("test", samples["val"])  # as torchvision-style folders: val doubles as test
        mode = "L" if self.in_channels == 1 else "RGB"
        self.train_dataset, self.val_dataset, self.test_dataset = (
            LabelledImageFiles(samples[split], mode, self._transform(train=split == "train"), where)
            for split in ("train", "val", "test"))

    def _image_facts(self, first: Path, where: str) -> None:
        """Channels, size and normalisation from the first training image, where the config leaves them open."""
        channels, height, width = channels_and_size(first, where)
        self.in_channels = self.in_channels or channels
        self.image_size = self.image_size or min(height, width, self.max_image_size)
        if self.mean is None or self.std is None:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
            if self.in_channels == 1:
                mean, std = [sum(mean) / 3], [sum(std) / 3]
            self.mean, self.std = self.mean or mean, self.std or std

    def _transform(self, train: bool):
        return build_image_transform(self.image_size, self.native_size, self.mean, self.std, train, **self.augment)

    def facts(self) -> dict:
        return {"num_classes": self.num_classes, "class_names": self.class_names, "in_channels": self.in_channels,
                "image_size": self.image_size, "mean": list(self.mean), "std": list(self.std),
                **({"root": str(self.root.resolve())} if self.root else {}),
                **({"labels": str(self.labels.resolve())} if self.labels else {})}
