"""U-Net (Ronneberger, Fischer & Brox, 2015): a contracting path, an expanding path and skips.

The contracting path is a classifier-like stack: two 3x3 conv-BN-ReLU
(``DoubleConv``) then a 2x2 max-pool, doubling the width at every level. The
expanding path mirrors it: a 2x2 transposed convolution doubles the
resolution and halves the width, the encoder map of the same level is
*concatenated* (the skip brings back the detail pooling threw away) and a
DoubleConv fuses the two. A 1x1 convolution gives the class scores.

The paper's unpadded convolutions shrink the map and need overlap tiling;
here convolutions are padded ("same"), so the output has the input's size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models.layers import ConvNormAct


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BN -> ReLU) twice."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(ConvNormAct(in_channels, out_channels, 3), ConvNormAct(out_channels, out_channels, 3))


class Down(nn.Sequential):
    """One contracting step: 2x2 max-pool, then DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))


class Up(nn.Module):
    """One expanding step: 2x2 up-convolution, concatenate the skip, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels // 2 + out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        # odd sizes lose a row or column in pooling; pad back so the skip aligns
        x = F.pad(x, (0, skip.shape[-1] - x.shape[-1], 0, skip.shape[-2] - x.shape[-2]))
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int = 3, base_channels: int = 64, depth: int = 4) -> None:
        super().__init__()
        widths = [base_channels * 2**i for i in range(depth + 1)]  # 64, 128, 256, 512, 1024 in the paper
        self.inc = DoubleConv(in_channels, widths[0])
        self.downs = nn.ModuleList(Down(widths[i], widths[i + 1]) for i in range(depth))
        self.ups = nn.ModuleList(Up(widths[i + 1], widths[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.head(x)
