"""Fully Convolutional Networks (Long, Shelhamer & Darrell, 2015): FCN-32s and FCN-8s.

A classification network becomes a per-pixel classifier once its fully
connected layers are read as convolutions: fc6 is a 7x7 convolution over the
pool5 map and fc7 a 1x1 one, and a 1x1 convolution (``score``) gives class
scores for every cell of a map 32x smaller than the input.

Upsampling is a transposed convolution with stride ``s``, kernel ``2s`` and
padding ``s/2``, *initialised to bilinear interpolation*: the kernel is the
outer product of the 1-D "tent" ``w(i) = 1 - |i - c| / f`` with ``f = ceil(k/2)``
and centre ``c = f - 1`` (odd k) or ``f - 0.5`` (even k), placed on the
channel diagonal, so class ``k`` is upsampled from class ``k`` only. Training
may then refine it.

* **FCN-32s** upsamples the pool5 scores 32x in one step: coarse masks.
* **FCN-8s** adds skips: the scores are upsampled 2x and added to scores of
  pool4, upsampled 2x again and added to scores of pool3, then upsampled 8x.
  The skip scorers start at zero, so training begins from FCN-32s-like output.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models.segmentation.backbones import freeze, vgg_features


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> torch.Tensor:
    """Weights (in, out, k, k) that make a transposed convolution interpolate bilinearly."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    tent = 1 - (og - center).abs() / factor
    weight = torch.zeros(in_channels, out_channels, kernel_size, kernel_size)
    channels = torch.arange(min(in_channels, out_channels))
    weight[channels, channels] = tent[:, None] * tent[None, :]
    return weight


def bilinear_upsampling(channels: int, factor: int) -> nn.ConvTranspose2d:
    """A learnable ``factor``x upsampling that starts as bilinear interpolation (output = factor * input size)."""
    up = nn.ConvTranspose2d(channels, channels, kernel_size=2 * factor, stride=factor, padding=factor // 2,
                            bias=False)
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(channels, channels, 2 * factor))
    return up


class FCN(nn.Module):
    """FCN on a VGG encoder; ``variant`` is "32s" or "8s"."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        variant: str = "8s",
        backbone: str = "vgg16",
        width_multiplier: float = 1.0,
        batch_norm: bool = False,
        fc_channels: int = 4096,
        dropout: float = 0.5,
        pretrained: bool = False,
        freeze_backbone: bool = False,
    ) -> None:
        super().__init__()
        if variant not in ("32s", "8s"):
            raise ValueError(f"FCN variant must be '32s' or '8s', got {variant!r}")
        self.variant = variant
        features = vgg_features(backbone, in_channels, width_multiplier, batch_norm, pretrained)
        if freeze_backbone:
            freeze(features)
        # split VGG after pool3 and pool4: FCN-8s scores those maps too
        pools = [i for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d)]
        self.to_pool3 = features[: pools[2] + 1]
        self.to_pool4 = features[pools[2] + 1: pools[3] + 1]
        self.to_pool5 = features[pools[3] + 1:]
        pool3_channels = self._channels_before(features, pools[2])
        pool4_channels = self._channels_before(features, pools[3])
        pool5_channels = self._channels_before(features, pools[4])
        # fc6 / fc7 of the classifier, as convolutions
        self.fc = nn.Sequential(
            nn.Conv2d(pool5_channels, fc_channels, 7, padding=3), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
            nn.Conv2d(fc_channels, fc_channels, 1), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
        )
        self.score = nn.Conv2d(fc_channels, num_classes, 1)
        if variant == "32s":
            self.upscore32 = bilinear_upsampling(num_classes, 32)
        else:
            self.score_pool4 = nn.Conv2d(pool4_channels, num_classes, 1)
            self.score_pool3 = nn.Conv2d(pool3_channels, num_classes, 1)
            for skip in (self.score_pool4, self.score_pool3):
                nn.init.zeros_(skip.weight)
                nn.init.zeros_(skip.bias)
            self.upscore2 = bilinear_upsampling(num_classes, 2)
            self.upscore_pool4 = bilinear_upsampling(num_classes, 2)
            self.upscore8 = bilinear_upsampling(num_classes, 8)

    @staticmethod
    def _channels_before(features: nn.Sequential, index: int) -> int:
        return [m for m in features[:index] if isinstance(m, nn.Conv2d)][-1].out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        # pad to a multiple of 32 so every pool halves exactly and the upsampled map aligns
        x = F.pad(x, (0, -width % 32, 0, -height % 32))
        pool3 = self.to_pool3(x)
        pool4 = self.to_pool4(pool3)
        scores = self.score(self.fc(self.to_pool5(pool4)))
        if self.variant == "32s":
            scores = self.upscore32(scores)
        else:
            scores = self.upscore2(scores) + self.score_pool4(pool4)
            scores = self.upscore_pool4(scores) + self.score_pool3(pool3)
            scores = self.upscore8(scores)
        return scores[..., :height, :width]


def fcn32s(**kwargs) -> FCN:
    return FCN(variant="32s", **kwargs)


def fcn8s(**kwargs) -> FCN:
    return FCN(variant="8s", **kwargs)
