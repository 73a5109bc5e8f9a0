"""The image files of ``dltrain mode=predict``: find them, check them, load them as the model saw its data.

``predict.inputs`` is a file, a folder (its image files, not recursive), a
glob (``photos/*.jpg``, ``**`` recurses) or a list of these. Files are read
with PIL (PNG, JPEG, BMP, GIF, TIFF, WebP...) as RGB, and checked before anything
is written (dltrain/data/vision/image_files.py).

Preprocessing follows the data config's evaluation transform: resize to
``data.image_size`` (to a square S x S, without cropping: every pixel of the
file is seen, so masks and boxes map back onto the whole file), convert to
``data.in_channels`` (grey or RGB), scale to [0, 1] and normalise with
``data.mean`` / ``data.std`` when the data has them (detection data has none:
its detectors normalise inside).
"""
from __future__ import annotations

import glob
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torchvision.transforms.v2 import functional as TF

from dltrain.data.vision.image_files import IMAGE_SUFFIXES, load_rgb
from dltrain.errors import UserError
from dltrain.tasks.base import ImageBatch


def find_images(inputs: str | Sequence[str]) -> list[Path]:
    """Every image file named by ``predict.inputs``, in a stable order, each once."""
    return find_files(inputs, IMAGE_SUFFIXES, "image", "'photos/*.jpg'")


def find_files(inputs: str | Sequence[str], suffixes: Iterable[str], kind: str, example: str) -> list[Path]:
    """Every file named by ``predict.inputs`` (a folder contributes its files with one of ``suffixes``)."""
    suffixes = {suffix.lower() for suffix in suffixes}
    patterns = [inputs] if isinstance(inputs, str) else list(inputs)
    found: list[Path] = []
    for pattern in map(str, patterns):
        path = Path(pattern).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        elif path.is_file():
            found.append(path)
        else:
            found += sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    unique = list(dict.fromkeys(found))
    if not unique:
        raise UserError(
            f"predict.inputs={inputs} matches no {kind} files; give a {kind} file, a folder of them "
            f"({', '.join(sorted(suffixes))}) or a quoted glob such as {example}, relative to {Path.cwd()}."
        )
    return unique


def output_names(files: Sequence[Path]) -> list[str]:
    """A unique stem per file for its output PNGs (two folders' cat.jpg become cat and cat_1)."""
    names, used = [], set()
    for path in files:
        name, count = path.stem, 1
        while name in used:
            name, count = f"{path.stem}_{count}", count + 1
        used.add(name)
        names.append(name)
    return names


class Preprocess:
    """A data module's image facts (size, channels, mean, std) as the transform of predict's files."""

    def __init__(self, data: Any) -> None:
        size, channels = getattr(data, "image_size", None), getattr(data, "in_channels", None)
        if size is None or channels not in (1, 3):
            raise UserError(
                f"mode=predict reads image files, and the checkpoint's data ({type(data).__name__}) does not state "
                "an image_size and 1 or 3 in_channels; predict with a checkpoint trained on image data."
            )
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.channels = channels
        mean, std = getattr(data, "mean", None), getattr(data, "std", None)
        self.mean = None if mean is None else self._per_channel(mean)
        self.std = None if std is None else self._per_channel(std)

    def _per_channel(self, values: Sequence[float]) -> torch.Tensor:
        values = list(values)
        if len(values) == 1:  # one value for every channel (grey data fed to an RGB model, as the data does)
            values = values * self.channels
        return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, files: Sequence[Path], names: Sequence[str], device: torch.device) -> ImageBatch:
        originals = [load_rgb(path) for path in files]
        resized = []
        for image in originals:
            image = TF.resize(image, list(self.size), antialias=True)
            if self.channels == 1:
                image = TF.rgb_to_grayscale(image)
            resized.append(image.float() / 255)
        pixels = torch.stack(resized)
        normalised = pixels if self.mean is None else (pixels - self.mean) / self.std
        return ImageBatch(files=[str(p) for p in files], names=list(names), originals=originals,
                          pixels=pixels.to(device), normalised=normalised.to(device))
