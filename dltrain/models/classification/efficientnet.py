"""EfficientNet (Tan & Le, 2019): compound scaling of a searched MBConv network.

Two ideas:

* **EfficientNet-B0**, found by neural architecture search, is a stack of
  **MBConv** blocks: MobileNet v2's inverted residual (1x1 expand,
  depthwise conv, linear 1x1 projection) with squeeze-and-excitation after the
  depthwise conv and the SiLU (swish) activation everywhere. Residual blocks
  use **stochastic depth**: during training each block's branch is dropped
  for a whole sample with a probability that grows linearly with depth (up to
  0.2), a regulariser that also shortens the network on average.
* **Compound scaling**: instead of making a network only deeper, wider or
  higher-resolution, scale all three together with fixed ratios
  (depth 1.2**phi, width 1.1**phi, resolution 1.15**phi) to get B1-B7 from B0.

This file builds B0, the base network of paper Table 1.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from dltrain.models import transfer
from dltrain.models.layers import (
    ConvNormAct,
    DropPath,
    SqueezeExcitation,
    is_small_image,
    kaiming_init,
    make_divisible,
)


class Stage(NamedTuple):
    """One row of paper Table 1: MBConv<expand_ratio>, kernel, stride of the first block, channels, layers."""

    expand_ratio: int
    kernel: int
    stride: int
    out_channels: int
    num_layers: int


# Paper Table 1, stages 2-8 (stage 1 is the 3x3 stem with 32 channels, stage 9 the 1x1 conv + pool + FC).
B0_STAGES = (
    Stage(1, 3, 1, 16, 1),
    Stage(6, 3, 2, 24, 2),
    Stage(6, 5, 2, 40, 2),
    Stage(6, 3, 2, 80, 3),
    Stage(6, 5, 1, 112, 3),
    Stage(6, 5, 2, 192, 4),
    Stage(6, 3, 1, 320, 1),
)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: expand -> depthwise -> SE -> linear projection (+ dropped shortcut)."""

    def __init__(
        self, in_channels: int, out_channels: int, expand_ratio: int, kernel: int, stride: int, drop_path: float
    ) -> None:
        super().__init__()
        expanded = make_divisible(in_channels * expand_ratio)
        self.use_shortcut = stride == 1 and in_channels == out_channels
        # MBConv1 (expand_ratio 1) has no expansion layer.
        self.expand = (
            ConvNormAct(in_channels, expanded, 1, activation=nn.SiLU) if expanded != in_channels else nn.Identity()
        )
        self.depthwise = ConvNormAct(expanded, expanded, kernel, stride, groups=expanded, activation=nn.SiLU)
        # SE ratio 0.25 of the block's *input* width (not of the expanded width, unlike MobileNet v3).
        self.se = SqueezeExcitation(expanded, max(1, in_channels // 4), activation=nn.SiLU, gate=nn.Sigmoid)
        self.project = ConvNormAct(expanded, out_channels, 1, activation=None)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        # Stochastic depth only makes sense where a shortcut can carry the sample on its own.
        return x + self.drop_path(out) if self.use_shortcut else out


class EfficientNet(nn.Module):
    """EfficientNet-B0.

    Small inputs (below 64 px): the stem and the first stride-2 stage (24
    channels) use stride 1, so the total stride drops from 32 to 8; 8 px
    digits end at 1x1 instead of vanishing in the first layers.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        dropout: float = 0.2,
        drop_path_rate: float = 0.2,
    ) -> None:
        super().__init__()
        small = is_small_image(image_size)
        channels = 32
        self.stem = ConvNormAct(in_channels, channels, 3, stride=1 if small else 2, activation=nn.SiLU)

        total_blocks = sum(stage.num_layers for stage in B0_STAGES)
        block_id = 0
        stages: list[nn.Sequential] = []
        for index, stage in enumerate(B0_STAGES):
            stride = 1 if small and index == 1 else stage.stride
            blocks: list[MBConv] = []
            for i in range(stage.num_layers):
                # Drop probability grows linearly from 0 at the first block towards drop_path_rate.
                drop_path = drop_path_rate * block_id / total_blocks
                blocks.append(MBConv(
                    channels, stage.out_channels, stage.expand_ratio, stage.kernel, stride if i == 0 else 1, drop_path
                ))
                channels = stage.out_channels
                block_id += 1
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)

        last_channels = 4 * channels  # 1280 for B0
        self.last_conv = ConvNormAct(channels, last_channels, 1, activation=nn.SiLU)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(last_channels, num_classes)

        kaiming_init(self)
        # As the reference implementation: uniform init of the classifier scaled by 1/sqrt(classes).
        init_range = 1.0 / math.sqrt(num_classes)
        nn.init.uniform_(self.head.weight, -init_range, init_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.last_conv(self.stages(self.stem(x)))
        return self.head(self.dropout(torch.flatten(self.pool(x), 1)))


def efficientnet_b0(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> EfficientNet:
    return transfer.prepare(EfficientNet(**kwargs), "efficientnet_b0", pretrained, freeze_backbone)
