"""Augmentation and normalisation of a whole uint8 batch at once, on whatever device it lives on.

The on-device loader's counterpart of ``transforms.build_image_transform``,
with the same meaning per image:

* random crop with zero padding ``p``: pad by ``p``, take an ``H x W`` window
  at an offset uniform in ``0..2p`` per axis (``v2.RandomCrop(padding=p)``);
* horizontal flip with probability 1/2 (``v2.RandomHorizontalFlip``);
* normalisation fused into the uint8 -> float conversion: one ``addcmul``
  computes ``(x / 255 - mean) / std`` as ``x * (1 / (255 std)) - mean / std``;
* CutOut: an ``s x s`` square, fully inside the image, of the *normalised*
  image set to 0 (``v2.RandomErasing(value=0)`` after ``Normalize``).

Crop and flip are one ``gather`` (``shift_batch``): each output pixel reads the
padded input at ``(dy + i, dx + j)``, or ``(dy + i, dx + W - 1 - j)`` when
flipped, so a batch costs a pad, a gather, the fused normalisation and a masked
fill, whatever its size. Masks (segmentation targets) take the same gather,
padded with the ignore index (the semi-supervised views of
``dltrain/data/augment/perturbation.py`` shift float batches with the same function).
The random parameters of a whole epoch are drawn up front from the epoch's
generator (``plan``), so an epoch's augmentations are a pure function of
seed + epoch, on any device, and any batch can be recomputed alone.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from dltrain.errors import UserError

# keys of data.augment that act on whole batches in the task (dltrain/data/augment/mixing.py), not here
_TASK_KEYS = ("mixup_alpha", "cutmix_alpha", "mix_prob", "mix_switch_prob")


def shift_batch(images: torch.Tensor, offsets: torch.Tensor | None, padding: int, pad_mode: str = "constant",
                fill: float = 0, flips: torch.Tensor | None = None) -> torch.Tensor:
    """Image b of (B, C, H, W) becomes the H x W window at ``offsets[b] = (dy, dx)`` (each in 0..2 padding) of
    itself padded by ``padding`` on every side, mirrored left-right where ``flips[b]``; one gather for the batch.

    ``pad_mode`` "constant" pads with ``fill`` (zeros: ``RandomCrop(padding=p)``; the ignore index: masks), or
    "replicate" repeats the border pixels (background on digits). ``offsets=None``: no shift, flips only.
    Any dtype (uint8 loader batches, float views), on the images' device.
    """
    batch, channels, height, width = images.shape
    p = padding if offsets is not None else 0
    rows = torch.arange(height, device=images.device).expand(batch, height)
    cols = torch.arange(width, device=images.device).expand(batch, width)
    if flips is not None:
        cols = torch.where(flips[:, None], cols.flip(1), cols)
    if offsets is not None:
        rows, cols = rows + offsets[:, :1], cols + offsets[:, 1:]
    if p:
        images = F.pad(images, (p, p, p, p), mode=pad_mode, **({"value": fill} if pad_mode == "constant" else {}))
    source = (rows[:, :, None] * (width + 2 * p) + cols[:, None, :]).view(batch, 1, height * width)
    return images.flatten(2).gather(2, source.expand(batch, channels, -1)).view(batch, channels, height, width)


class FusedNormalize:
    """uint8 (B, C, H, W) -> float32 ``(x / 255 - mean) / std`` in one kernel."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device) -> None:
        mean_t = torch.tensor([float(m) for m in mean], dtype=torch.float32).view(-1, 1, 1)
        std_t = torch.tensor([float(s) for s in std], dtype=torch.float32).view(-1, 1, 1)
        self.scale = (1.0 / (255.0 * std_t)).to(device)
        self.shift = (-mean_t / std_t).to(device)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, images, self.scale)


@dataclass
class AugmentPlan:
    """Per-sample random parameters of one epoch (row i belongs to the i-th sample of the epoch's order)."""

    offsets: torch.Tensor | None  # (N, 2) crop offsets (dy, dx) in 0..2p
    flips: torch.Tensor | None    # (N,) bool
    cutout: torch.Tensor | None   # (N, 2) top-left corner of the CutOut square

    def to(self, device: torch.device) -> AugmentPlan:
        return AugmentPlan(*(None if t is None else t.to(device) for t in (self.offsets, self.flips, self.cutout)))

    def __getitem__(self, rows: Any) -> AugmentPlan:
        return AugmentPlan(*(None if t is None else t[rows] for t in (self.offsets, self.flips, self.cutout)))


class BatchAugment:
    def __init__(self, random_crop_padding: int = 0, horizontal_flip: bool = False, cutout: int = 0,
                 mask_fill: int = 0) -> None:
        self.padding, self.flip, self.cutout_size = int(random_crop_padding), bool(horizontal_flip), int(cutout)
        self.mask_fill = mask_fill

    @classmethod
    def from_config(cls, augment: Mapping[str, Any], mask_fill: int = 0) -> BatchAugment:
        """From a data config's ``augment`` block; options the device cannot do end in a ``UserError``."""
        options = {k: v for k, v in dict(augment).items() if k not in _TASK_KEYS}
        if options.pop("color_jitter", 0):
            raise UserError("data.augment.color_jitter is not available with data.loader=device (random crop, "
                            "horizontal flip and cutout are); set data.augment.color_jitter=0 or "
                            "data.loader=classic.")
        if tuple(options.pop("scale", (1.0, 1.0))) != (1.0, 1.0):
            raise UserError("data.augment.scale (scale jitter) is not available with data.loader=device; "
                            "set data.augment.scale=[1.0,1.0] or data.loader=classic.")
        known = {"random_crop_padding", "horizontal_flip", "cutout"}
        if set(options) - known:
            raise UserError(f"data.augment.{sorted(set(options) - known)[0]} is not available with "
                            f"data.loader=device (it does {', '.join(sorted(known))}); use data.loader=classic.")
        return cls(**options, mask_fill=mask_fill)

    @property
    def active(self) -> bool:
        return bool(self.padding or self.flip or self.cutout_size)

    def plan(self, num_samples: int, height: int, width: int, generator: torch.Generator) -> AugmentPlan:
        offsets = flips = corners = None
        if self.padding:
            offsets = torch.randint(0, 2 * self.padding + 1, (num_samples, 2), generator=generator)
        if self.flip:
            flips = torch.rand(num_samples, generator=generator) < 0.5
        if self.cutout_size:
            size = min(self.cutout_size, height, width)
            high = torch.tensor([height - size + 1, width - size + 1])
            corners = (torch.rand(num_samples, 2, generator=generator) * high).long()
        return AugmentPlan(offsets, flips, corners)

    def geometry(self, images: torch.Tensor, targets: torch.Tensor, plan: AugmentPlan
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Crop and flip uint8 images (B, C, H, W), and masks (B, H, W) the same way; labels pass through."""
        if plan.offsets is None and plan.flips is None:
            return images, targets
        images = shift_batch(images, plan.offsets, self.padding, flips=plan.flips)
        if targets.dim() == 3:  # a mask per image: the same pixels move
            targets = shift_batch(targets[:, None], plan.offsets, self.padding, fill=self.mask_fill,
                                  flips=plan.flips)[:, 0]
        return images, targets

    def erase(self, images: torch.Tensor, plan: AugmentPlan) -> torch.Tensor:
        """CutOut on normalised float images (in place)."""
        if plan.cutout is None:
            return images
        height, width = images.shape[-2:]
        size = min(self.cutout_size, height, width)
        ys = torch.arange(height, device=images.device).view(1, height, 1)
        xs = torch.arange(width, device=images.device).view(1, 1, width)
        top, left = plan.cutout[:, 0].view(-1, 1, 1), plan.cutout[:, 1].view(-1, 1, 1)
        inside = (ys >= top) & (ys < top + size) & (xs >= left) & (xs < left + size)
        return images.masked_fill_(inside[:, None], 0.0)
