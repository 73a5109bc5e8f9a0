"""DeepLab-v3 (Chen et al., 2017) and DeepLab-v3+ (Chen et al., 2018).

**Atrous convolution.** A 3x3 convolution with dilation ``r`` samples its
inputs ``r`` pixels apart: ``y[i] = sum_k x[i + r * k] w[k]``. It sees a
``(2r + 1)``-wide window with nine weights. Replacing the stride of the last
ResNet stage(s) with dilation keeps the feature map at 1/16 (or 1/8) of the
input instead of 1/32, with the same pretrained weights.

**ASPP** (atrous spatial pyramid pooling) looks at several scales at once:
a 1x1 convolution, three 3x3 convolutions with rates (6, 12, 18) at output
stride 16 (doubled at 8), and *image pooling* (global average, 1x1 conv,
broadcast back), concatenated and fused by a 1x1 convolution.

**v3+ decoder.** v3 upsamples its 1/16 scores 16x bilinearly: blurry
edges. v3+ upsamples the ASPP features 4x, concatenates the 1/4 low-level
features of ``layer1`` (first squeezed to 48 channels so they do not drown
the semantics), refines with two 3x3 convolutions and upsamples the
scores 4x.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models.layers import ConvNormAct
from dltrain.models.segmentation.backbones import ResNetBackbone, freeze


class ASPPPooling(nn.Module):
    """Image-level features: global average pool, 1x1 conv, broadcast to the map size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        # no BatchNorm: a 1x1 map has one value per channel, BN over a batch of 1 would fail
        self.conv = ConvNormAct(in_channels, out_channels, 1, norm=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x)).expand(-1, -1, *x.shape[-2:])


class ASPP(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, rates: Sequence[int], dropout: float = 0.5) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [ConvNormAct(in_channels, out_channels, 1)]
            + [ConvNormAct(in_channels, out_channels, 3, dilation=r) for r in rates]
            + [ASPPPooling(in_channels, out_channels)]
        )
        self.project = nn.Sequential(
            ConvNormAct(out_channels * len(self.branches), out_channels, 1), nn.Dropout2d(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


class DeepLabV3(nn.Module):
    """DeepLab-v3; ``decoder=True`` makes it DeepLab-v3+."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        image_size: int = 224,
        backbone: str = "resnet50",
        output_stride: int = 16,
        aspp_channels: int = 256,
        decoder: bool = False,
        low_level_channels: int = 48,
        pretrained: bool = False,
        freeze_backbone: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = ResNetBackbone(backbone, in_channels, image_size, output_stride, pretrained)
        if freeze_backbone:
            freeze(self.backbone)
        rates = [r * 16 // output_stride for r in (6, 12, 18)]
        self.aspp = ASPP(self.backbone.stage_channels[-1], aspp_channels, rates)
        self.decoder = decoder
        if decoder:
            self.reduce_low_level = ConvNormAct(self.backbone.stage_channels[0], low_level_channels, 1)
            self.refine = nn.Sequential(
                ConvNormAct(aspp_channels + low_level_channels, aspp_channels, 3),
                ConvNormAct(aspp_channels, aspp_channels, 3),
            )
        else:
            self.refine = ConvNormAct(aspp_channels, aspp_channels, 3)
        self.classifier = nn.Conv2d(aspp_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        y = self.aspp(features[-1])
        if self.decoder:
            low_level = features[0]
            y = F.interpolate(y, size=low_level.shape[-2:], mode="bilinear", align_corners=False)
            y = torch.cat([y, self.reduce_low_level(low_level)], dim=1)
        scores = self.classifier(self.refine(y))
        return F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)


def deeplabv3(**kwargs) -> DeepLabV3:
    return DeepLabV3(decoder=False, **kwargs)


def deeplabv3plus(**kwargs) -> DeepLabV3:
    return DeepLabV3(decoder=True, **kwargs)
