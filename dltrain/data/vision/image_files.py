"""Image files: which suffixes are images, reading one, checking many, and a dataset of labelled files.

Files are read with PIL (PNG, JPEG, BMP, GIF, TIFF, WebP...). A file PIL cannot read is a user mistake
named in one sentence with the file; ``check_readable`` opens every file before anything is trained or
written (``Image.verify`` reads a file's structure, not its pixels: fast), so a bad file stops a run
while nothing is half done. Used by the image folders of your own data and by ``mode=predict``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from dltrain.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError)  # what PIL raises on a bad file
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # PIL modes of one-channel images


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def check_readable(files: Sequence[Path], where: str) -> None:
    """Open every file (``where``: the option that named them, for the message) before any output is written."""
    for path in files:
        try:
            with Image.open(path) as image:
                image.verify()
        except READ_ERRORS as error:
            raise UserError(unreadable(path, error, where)) from None


def load_image(path: Path, mode: str = "RGB", where: str = "the data") -> Any:
    """A file as a PIL image in ``mode`` (RGB or L)."""
    try:
        with Image.open(path) as image:
            return image.convert(mode)
    except READ_ERRORS as error:  # verify() passes some truncated files that then fail to decode
        raise UserError(unreadable(path, error, where)) from None


def load_rgb(path: Path, where: str = "predict.inputs") -> torch.Tensor:
    """A file as uint8 RGB (3, H, W)."""
    return TF.pil_to_tensor(load_image(path, "RGB", where))


def channels_and_size(path: Path, where: str) -> tuple[int, int, int]:
    """(channels, height, width) of an image file: 1 for grey files, else 3 (colour, palette, with alpha)."""
    try:
        with Image.open(path) as image:
            return (1 if image.mode in GREY_MODES else 3), image.height, image.width
    except READ_ERRORS as error:
        raise UserError(unreadable(path, error, where)) from None


def unreadable(path: Path, error: Exception, where: str) -> str:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (f"{path} cannot be read as an image ({reason}); remove it from {where} or replace it with a PNG / "
            "JPEG file. Nothing was written for it.")


class LabelledImageFiles(Dataset):
    """(image file, class index) pairs, read as ``mode`` (RGB or L) and transformed when indexed."""

    def __init__(self, samples: Sequence[tuple[Path, int]], mode: str, transform: Callable, where: str) -> None:
        self.samples, self.mode, self.transform, self.where = list(samples), mode, transform, where

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.transform(load_image(path, self.mode, self.where)), label
