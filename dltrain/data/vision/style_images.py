"""The two images of a neural style transfer run, and a stream of empty steps.

Style transfer optimises one image, so there is no dataset: the training
"dataset" is ``steps_per_epoch`` placeholder items (batch size 1), one
optimisation step each, and validation is one item (the losses of the current
image, the image logged and written). The content image is resized so its
shorter side is ``image_size`` (keeping its aspect ratio); the style image is
resized to the same height and width. Both stay in [0, 1] pixels, as
``content_image`` / ``style_image`` (3, H, W) for the task to read.
"""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import TensorDataset

from dltrain.data.core.base import DataModule
from dltrain.data.vision.paired_images import pil_to_pixels
from dltrain.errors import UserError


def content_size(width: int, height: int, shorter_side: int) -> tuple[int, int]:
    """(H, W) with the shorter side scaled to ``shorter_side``."""
    scale = shorter_side / min(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


class StyleImagesData(DataModule):
    def __init__(self, content: str, style: str, image_size: int = 256, steps_per_epoch: int = 50,
                 in_channels: int = 3, num_classes: int = 1, **loader_options) -> None:
        super().__init__(**loader_options)
        self.num_classes = num_classes  # a fact for the (ignored) model config
        self.content, self.style = content, style
        self.size, self.steps_per_epoch = image_size, steps_per_epoch
        self.in_channels = in_channels
        self.content_image: torch.Tensor | None = None
        self.style_image: torch.Tensor | None = None

    def _open(self, path: str, key: str) -> Image.Image:
        if not Path(path).is_file():
            raise UserError(f"style_transfer.{key}={path} is not an image file; set style_transfer.{key}=PATH "
                            "to a .jpg or .png.")
        try:
            return Image.open(path)
        except OSError as error:
            raise UserError(f"style_transfer.{key}={path} cannot be read as an image ({error}); "
                            "use a .jpg or .png file.") from None

    def setup(self) -> None:
        if self.steps_per_epoch < 1:
            raise UserError(f"style_transfer.log_every={self.steps_per_epoch} must be at least 1.")
        with self._open(self.content, "content") as image:
            size = content_size(*image.size, self.size)
            self.content_image = pil_to_pixels(image, size, self.in_channels)
        with self._open(self.style, "style") as image:
            self.style_image = pil_to_pixels(image, size, self.in_channels)
        self.train_dataset = TensorDataset(torch.arange(self.steps_per_epoch))
        self.val_dataset = TensorDataset(torch.zeros(1))
        self.test_dataset = self.val_dataset
