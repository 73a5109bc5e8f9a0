"""MobileNet v3 (Howard et al., 2019): MobileNet v2 blocks, tuned by search, plus SE and h-swish.

The building block ("bneck") is MobileNet v2's inverted residual (1x1
expand, kxk depthwise, linear 1x1 projection) with two additions:

* **squeeze-and-excitation** after the depthwise conv in some blocks: a
  global pool and a two-layer bottleneck that re-weights the channels. The
  gate is a *hard* sigmoid, ``ReLU6(x + 3) / 6``, cheap on phones;
* **h-swish**, ``x * ReLU6(x + 3) / 6``, a piecewise-linear swish, used in the
  deeper half where it pays off most (the early layers keep ReLU).

The layer widths, kernel sizes (3 or 5) and where SE / h-swish go come from a
neural architecture search (paper Tables 1 and 2). The last stage is redesigned
to be cheap: pool first, then a 1x1 layer without BatchNorm (here a Linear, as
in torchvision) before the classifier. Two sizes: Large and Small.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.models import transfer
from dltrain.models.layers import (
    ConvNormAct,
    SqueezeExcitation,
    is_small_image,
    kaiming_init,
    make_divisible,
)


class Bneck(NamedTuple):
    """One row of the paper's tables: kernel, expansion size, output channels, SE, h-swish, stride."""

    kernel: int
    expanded: int
    out: int
    use_se: bool
    use_hs: bool
    stride: int


# Paper Table 1 (MobileNetV3-Large): stem 16 channels, last conv 960, hidden layer 1280.
LARGE = (
    Bneck(3, 16, 16, False, False, 1),
    Bneck(3, 64, 24, False, False, 2),
    Bneck(3, 72, 24, False, False, 1),
    Bneck(5, 72, 40, True, False, 2),
    Bneck(5, 120, 40, True, False, 1),
    Bneck(5, 120, 40, True, False, 1),
    Bneck(3, 240, 80, False, True, 2),
    Bneck(3, 200, 80, False, True, 1),
    Bneck(3, 184, 80, False, True, 1),
    Bneck(3, 184, 80, False, True, 1),
    Bneck(3, 480, 112, True, True, 1),
    Bneck(3, 672, 112, True, True, 1),
    Bneck(5, 672, 160, True, True, 2),
    Bneck(5, 960, 160, True, True, 1),
    Bneck(5, 960, 160, True, True, 1),
)

# Paper Table 2 (MobileNetV3-Small): stem 16 channels, last conv 576, hidden layer 1024.
SMALL = (
    Bneck(3, 16, 16, True, False, 2),
    Bneck(3, 72, 24, False, False, 2),
    Bneck(3, 88, 24, False, False, 1),
    Bneck(5, 96, 40, True, True, 2),
    Bneck(5, 240, 40, True, True, 1),
    Bneck(5, 240, 40, True, True, 1),
    Bneck(5, 120, 48, True, True, 1),
    Bneck(5, 144, 48, True, True, 1),
    Bneck(5, 288, 96, True, True, 2),
    Bneck(5, 576, 96, True, True, 1),
    Bneck(5, 576, 96, True, True, 1),
)

VARIANTS = {"large": (LARGE, 1280), "small": (SMALL, 1024)}

# The reference TensorFlow training uses BN with eps 1e-3 and momentum 0.01 (torchvision too).
BatchNorm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


class InvertedResidual(nn.Module):
    """The bneck block: expand -> depthwise -> (SE) -> linear projection, with a shortcut."""

    def __init__(self, in_channels: int, cfg: Bneck, stride: int, width_mult: float) -> None:
        super().__init__()
        expanded = make_divisible(cfg.expanded * width_mult)
        out_channels = make_divisible(cfg.out * width_mult)
        activation = nn.Hardswish if cfg.use_hs else nn.ReLU
        self.use_shortcut = stride == 1 and in_channels == out_channels
        # Blocks whose expansion size equals their input width skip the 1x1 expansion.
        self.expand = (
            ConvNormAct(in_channels, expanded, 1, activation=activation, norm=BatchNorm)
            if expanded != in_channels else nn.Identity()
        )
        self.depthwise = ConvNormAct(
            expanded, expanded, cfg.kernel, stride, groups=expanded, activation=activation, norm=BatchNorm
        )
        # SE squeezes to a quarter of the expanded width, gated by a hard sigmoid (paper Section 5.3).
        self.se = (
            SqueezeExcitation(expanded, make_divisible(expanded // 4), nn.ReLU, nn.Hardsigmoid)
            if cfg.use_se else nn.Identity()
        )
        self.project = ConvNormAct(expanded, out_channels, 1, activation=None, norm=BatchNorm)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return x + out if self.use_shortcut else out


class MobileNetV3(nn.Module):
    """MobileNet v3 Large or Small (``variant``), with the paper's width multiplier.

    Small inputs (below 64 px): the stem convolution and the first stride-2
    bneck use stride 1, so the total stride drops from 32 to 8; 8 px digits
    end at 1x1 instead of vanishing in the first layers.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        variant: str = "large",
        width_mult: float = 1.0,
        dropout: float = 0.2,
        bn_momentum: float = 0.01,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise UserError(f"Unknown MobileNet v3 variant '{variant}'; choose one of {sorted(VARIANTS)}.")
        table, hidden = VARIANTS[variant]
        small = is_small_image(image_size)
        channels = make_divisible(16 * width_mult)
        self.stem = ConvNormAct(
            in_channels, channels, 3, stride=1 if small else 2, activation=nn.Hardswish, norm=BatchNorm
        )

        blocks: list[InvertedResidual] = []
        first_downsampling = True
        for cfg in table:
            stride = cfg.stride
            if stride == 2 and first_downsampling:
                first_downsampling = False
                stride = 1 if small else 2
            blocks.append(InvertedResidual(channels, cfg, stride, width_mult))
            channels = blocks[-1].out_channels
        self.blocks = nn.Sequential(*blocks)

        # Efficient last stage (paper Figure 5): 1x1 conv to 6x width, pool, then a BN-free 1x1 layer.
        self.last_conv = ConvNormAct(channels, 6 * channels, 1, activation=nn.Hardswish, norm=BatchNorm)
        self.pool = nn.AdaptiveAvgPool2d(1)
        hidden = make_divisible(hidden * width_mult)
        self.pre_logits = nn.Sequential(nn.Linear(6 * channels, hidden), nn.Hardswish(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)
        kaiming_init(self)
        # 0.01 (the reference's) averages the running statistics over ~100 steps: right for ImageNet's
        # hundreds of thousands, but on a run of a few hundred steps they still describe the early weights
        # and evaluation predicts one class. Short runs set model.bn_momentum=0.1 (PyTorch's default).
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = bn_momentum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.last_conv(self.blocks(self.stem(x)))
        x = self.pre_logits(torch.flatten(self.pool(x), 1))
        return self.head(self.dropout(x))


def _build(variant: str, pretrained: bool, freeze_backbone: bool, **kwargs) -> MobileNetV3:
    if pretrained and kwargs.get("width_mult", 1.0) != 1.0:
        raise UserError(f"torchvision's MobileNet v3 {variant} weights exist only for width_mult=1.0; "
                        "set model.width_mult=1.0 or model.pretrained=false.")
    model = MobileNetV3(variant=variant, **kwargs)
    return transfer.prepare(model, f"mobilenet_v3_{variant}", pretrained, freeze_backbone)


def mobilenet_v3_large(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> MobileNetV3:
    return _build("large", pretrained, freeze_backbone, **kwargs)


def mobilenet_v3_small(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> MobileNetV3:
    return _build("small", pretrained, freeze_backbone, **kwargs)
