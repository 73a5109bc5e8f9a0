"""Network in Network (Lin, Chen & Yan, 2013), in the form d2l teaches it.

Two ideas:

* The NiN block: an ordinary convolution followed by two 1x1 convolutions.
  A 1x1 convolution is a fully connected layer applied at every pixel across
  the channels, so each block is a small MLP ("micro network") sliding over
  the image instead of a single linear filter.
* No fully connected classifier: the last block outputs one channel per
  class and global average pooling turns each channel into that class's
  score. This removes AlexNet's ~55M fully connected parameters and the
  over-fitting that came with them.

The widths (96, 256, 384) and kernels (11, 5, 3) are AlexNet's, as in d2l.
Inputs below 67 px (the least the 11x11 stride-4 stem and three unpadded
3x3 stride-2 pools can take) get a 3x3 stride-1 first block and pools that
halve the map (8 -> 4 -> 2 -> 1), so digits and CIFAR need no upsampling.
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.models import transfer
from dltrain.models.layers import kaiming_init

# 11x11/4 stem -> pool -> pool -> pool must leave at least 1 px: (67 - 11) // 4 + 1 = 15 -> 7 -> 3 -> 1.
MIN_PAPER_SIZE = 67


def nin_block(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int
) -> nn.Sequential:
    """Convolution + two 1x1 convolutions (a per-pixel MLP), each followed by ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(inplace=True),
    )


class NiN(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if image_size < MIN_PAPER_SIZE:
            first = nin_block(in_channels, 96, kernel_size=3, stride=1, padding=1)
            pool_padding = 1
        else:
            first = nin_block(in_channels, 96, kernel_size=11, stride=4, padding=0)
            pool_padding = 0
        self.features = nn.Sequential(
            first,
            nn.MaxPool2d(kernel_size=3, stride=2, padding=pool_padding),
            nin_block(96, 256, kernel_size=5, stride=1, padding=2),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=pool_padding),
            nin_block(256, 384, kernel_size=3, stride=1, padding=1),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=pool_padding),
        )
        # The classifier is the last NiN block itself: one output channel per class,
        # averaged over the whole map. There is no fully connected layer.
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nin_block(384, num_classes, kernel_size=3, stride=1, padding=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def nin(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> NiN:
    return transfer.prepare(NiN(**kwargs), None, pretrained, freeze_backbone)
