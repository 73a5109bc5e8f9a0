"""Paired images (x, y) for image-to-image translation (Pix2Pix).

Two sources:

* ``DigitsEdgesData`` (offline, the default): the scikit-learn digits resized
  to ``image_size``; x is the digit's edge map, y the digit. Edges are the
  Sobel gradient magnitude sqrt(G_x^2 + G_y^2) of the resized digit, scaled
  per image to [0, 1]: the model must learn to fill the strokes between their
  outlines.
* ``PairedImageFolder``: the Pix2Pix datasets' layout (facades, edges2shoes,
  maps...): ``root/train/*.jpg`` and ``root/val/*.jpg`` (``test/`` optional),
  each file the pair side by side, A on the left and B on the right. With
  ``download: true`` and a ``name`` the archive is fetched from the authors'
  server first (which fails offline with one sentence).

Batches are (x, y) with both images normalised to [-1, 1] (mean 0.5, std
0.5, the data configs' ``mean`` / ``std``).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset, TensorDataset
from torchvision.transforms.functional import pil_to_tensor

from dltrain.data.core.base import DataModule
from dltrain.data.core.splits import train_val_test
from dltrain.data.vision.digits import load_digits
from dltrain.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"


def digit_images(image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,797 scikit-learn digits as (N, 1, size, size) floats in [0, 1] (bilinear resize), and labels."""
    pixels, targets = load_digits()
    images = torch.from_numpy(pixels / 16.0).float().unsqueeze(1)
    if image_size != images.shape[-1]:
        images = F.interpolate(images, size=image_size, mode="bilinear", align_corners=False).clamp(0, 1)
    return images, torch.from_numpy(targets).long()


def sobel_edges(images: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude of (N, 1, H, W) images with the 3x3 Sobel kernels, scaled per image to [0, 1]."""
    gx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([gx, gx.T]).unsqueeze(1)  # d/dx, d/dy
    gradients = F.conv2d(images, kernels, padding=1)
    magnitude = gradients.square().sum(dim=1, keepdim=True).sqrt()
    return magnitude / magnitude.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-8)


def to_tanh_range(pixels: torch.Tensor) -> torch.Tensor:
    return pixels * 2 - 1


def pil_to_pixels(image: Image.Image, size: int | tuple[int, int], channels: int) -> torch.Tensor:
    """A PIL image as a (channels, H, W) float tensor in [0, 1], resized (bilinear) to ``size`` (side or (H, W))."""
    pixels = pil_to_tensor(image.convert("L" if channels == 1 else "RGB")).float() / 255
    size = (size, size) if isinstance(size, int) else size
    return F.interpolate(pixels[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0].clamp(0, 1)


def read_image(path: Path, size: int | tuple[int, int], channels: int) -> torch.Tensor:
    """An image file as ``pil_to_pixels`` gives it."""
    with Image.open(path) as image:
        return pil_to_pixels(image, size, channels)


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def download_archive(url: str, root: Path, what: str) -> None:
    """Fetch and extract an archive into root; one sentence when it cannot be had."""
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        download_and_extract_archive(url, str(root))
    except Exception as error:  # offline: URLError, OSError, ...
        raise UserError(f"Could not download {what} from {url} ({type(error).__name__}); put the extracted "
                        f"folder under {root.resolve()} and set data.download=false.") from None


class DigitsEdgesData(DataModule):
    """Offline paired data: (Sobel edge map of a digit, the digit), stratified splits of the 1,797 digits."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, image_size: int = 16,
                 val_fraction: float = 0.15, test_fraction: float = 0.15, mean: Sequence[float] = (0.5,),
                 std: Sequence[float] = (0.5,), **loader_options) -> None:
        super().__init__(**loader_options)
        self.in_channels, self.out_channels, self.image_size = in_channels, out_channels, image_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.mean, self.std = mean, std

    def setup(self) -> None:
        if (self.in_channels, self.out_channels) != (1, 1) or tuple(self.mean) != (0.5,) or tuple(self.std) != (0.5,):
            raise UserError("The digits edge pairs are one grey channel in [-1, 1]; keep data.in_channels=1, "
                            "data.out_channels=1, data.mean=[0.5] and data.std=[0.5].")
        digits, labels = digit_images(self.image_size)
        edges = to_tanh_range(sobel_edges(digits))
        digits = to_tanh_range(digits)
        train, val, test = train_val_test(list(range(len(labels))), self.val_fraction, self.test_fraction,
                                          self.seed, stratify=labels)
        self.train_dataset = TensorDataset(edges[train], digits[train])
        self.val_dataset = TensorDataset(edges[val], digits[val])
        self.test_dataset = TensorDataset(edges[test], digits[test])


class PairedFiles(Dataset):
    """Side-by-side A|B image files -> (x, y) in [-1, 1]; ``direction`` BtoA swaps them."""

    def __init__(self, files: list[Path], image_size: int, in_channels: int, out_channels: int,
                 direction: str) -> None:
        self.files, self.image_size = files, image_size
        self.in_channels, self.out_channels, self.direction = in_channels, out_channels, direction

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        with Image.open(self.files[index]) as image:
            width, height = image.size
            left, right = image.crop((0, 0, width // 2, height)), image.crop((width // 2, 0, width, height))
            a, b = (left, right) if self.direction == "AtoB" else (right, left)
            x = pil_to_pixels(a, self.image_size, self.in_channels)
            y = pil_to_pixels(b, self.image_size, self.out_channels)
        return to_tanh_range(x), to_tanh_range(y)


class PairedImageFolder(DataModule):
    """``root/{train,val,test}/*.jpg`` with A|B side by side (the Pix2Pix datasets)."""

    def __init__(self, root: str, name: str | None = None, download: bool = False, direction: str = "AtoB",
                 in_channels: int = 3, out_channels: int = 3, image_size: int = 256,
                 mean: Sequence[float] = (0.5, 0.5, 0.5), std: Sequence[float] = (0.5, 0.5, 0.5),
                 **loader_options) -> None:
        super().__init__(**loader_options)
        if direction not in ("AtoB", "BtoA"):
            raise UserError(f"data.direction={direction} is not one of AtoB, BtoA.")
        self.root, self.name, self.download, self.direction = Path(root), name, download, direction
        self.in_channels, self.out_channels, self.image_size = in_channels, out_channels, image_size
        self.mean, self.std = mean, std

    def setup(self) -> None:
        folder = self.root / self.name if self.name else self.root
        if self.download and self.name and not image_files(folder / "train"):
            download_archive(PIX2PIX_URL.format(name=self.name), self.root, f"the Pix2Pix dataset '{self.name}'")
        train, val = image_files(folder / "train"), image_files(folder / "val")
        if not train or not val:
            raise UserError(f"{folder.resolve()} must hold train/ and val/ folders of side-by-side A|B images "
                            "(the Pix2Pix layout); set data.root=PATH to such a folder.")
        test = image_files(folder / "test") or val

        def dataset(files: list[Path]) -> PairedFiles:
            return PairedFiles(files, self.image_size, self.in_channels, self.out_channels, self.direction)

        self.train_dataset, self.val_dataset, self.test_dataset = dataset(train), dataset(val), dataset(test)
