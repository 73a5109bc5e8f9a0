"""MobileNet v1 (Howard et al., 2017): depthwise-separable convolutions.

A standard 3x3 convolution filters and mixes channels in one step, costing
``3*3*C_in*C_out`` multiply-adds per pixel. MobileNet factorises it into

* a 3x3 *depthwise* convolution (one filter per input channel: spatial
  filtering only, ``3*3*C_in``), then
* a 1x1 *pointwise* convolution (mixes channels: ``C_in*C_out``),

each followed by BatchNorm and ReLU. For 3x3 kernels this is 8-9x cheaper
than a full convolution at a small loss of accuracy. The network is one
full 3x3 convolution followed by 13 depthwise-separable blocks (paper
Table 1), global average pooling and a fully connected classifier.

The *width multiplier* alpha thins every layer uniformly (channels become
``alpha * C``), trading accuracy for roughly ``alpha**2`` less computation.
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.models import transfer
from dltrain.models.layers import ConvNormAct, is_small_image, kaiming_init, make_divisible

# Paper Table 1: (output channels, stride) of the 13 depthwise-separable blocks.
# The table lists stride 2 for the last block too; that is a known typo (its
# output stays 7x7 at 224 px), so the last block uses stride 1.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)


class DepthwiseSeparableConv(nn.Sequential):
    """3x3 depthwise conv + BN + ReLU, then 1x1 pointwise conv + BN + ReLU (paper Figure 3)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        # groups=in_channels gives every channel its own 3x3 filter: no channel mixing here.
        self.depthwise = ConvNormAct(in_channels, in_channels, 3, stride, groups=in_channels)
        # The 1x1 conv does all the channel mixing, and holds ~95% of the weights.
        self.pointwise = ConvNormAct(in_channels, out_channels, 1)


class MobileNetV1(nn.Module):
    """MobileNet v1; ``width_mult`` is the paper's width multiplier alpha.

    Small inputs (below 64 px): the stem convolution and the first
    down-sampling block (128 channels) use stride 1 instead of 2, so the total
    stride drops from 32 to 8 (32 px CIFAR ends at 4x4, 8 px digits at 1x1
    instead of vanishing after the stem).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        width_mult: float = 1.0,
    ) -> None:
        super().__init__()
        small = is_small_image(image_size)
        channels = make_divisible(32 * width_mult)
        self.stem = ConvNormAct(in_channels, channels, 3, stride=1 if small else 2)

        blocks: list[nn.Module] = []
        first_downsampling = True
        for out_channels, stride in BLOCKS:
            if stride == 2 and first_downsampling:
                first_downsampling = False
                stride = 1 if small else 2
            out_channels = make_divisible(out_channels * width_mult)
            blocks.append(DepthwiseSeparableConv(channels, out_channels, stride))
            channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, num_classes)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.head(torch.flatten(self.pool(x), 1))


def mobilenet_v1(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> MobileNetV1:
    # torchvision ships no MobileNet v1, so there are no ImageNet weights to load.
    return transfer.prepare(MobileNetV1(**kwargs), None, pretrained, freeze_backbone)
