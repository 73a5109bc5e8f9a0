"""PSPNet (Zhao et al., 2017): the pyramid pooling module adds global context.

A pixel's class often depends on the whole scene (a boat is on water), but a
dilated ResNet's receptive field is in practice much smaller than in theory.
The pyramid pooling module average-pools the backbone's map into 1x1, 2x2,
3x3 and 6x6 bins, reduces each to ``C / len(bins)`` channels with a 1x1
convolution, upsamples them bilinearly back and concatenates them with the
map itself: every pixel sees features of the whole image and its quadrants.
A 3x3 convolution and a 1x1 classifier follow, and the scores are upsampled
bilinearly to the input (the backbone runs at output stride 8).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models.layers import ConvNormAct
from dltrain.models.segmentation.backbones import ResNetBackbone, freeze


class PyramidPoolingModule(nn.Module):
    def __init__(self, in_channels: int, bins: Sequence[int] = (1, 2, 3, 6)) -> None:
        super().__init__()
        reduced = in_channels // len(bins)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), ConvNormAct(in_channels, reduced, 1)) for b in bins
        )
        self.out_channels = in_channels + reduced * len(bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(stage(x), size=size, mode="bilinear", align_corners=False) for stage in self.stages]
        return torch.cat([x, *pooled], dim=1)


class PSPNet(nn.Module):
    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        image_size: int = 224,
        backbone: str = "resnet50",
        output_stride: int = 8,
        bins: Sequence[int] = (1, 2, 3, 6),
        head_channels: int = 512,
        dropout: float = 0.1,
        pretrained: bool = False,
        freeze_backbone: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = ResNetBackbone(backbone, in_channels, image_size, output_stride, pretrained)
        if freeze_backbone:
            freeze(self.backbone)
        self.ppm = PyramidPoolingModule(self.backbone.stage_channels[-1], bins)
        self.head = nn.Sequential(
            ConvNormAct(self.ppm.out_channels, head_channels, 3),
            nn.Dropout2d(dropout),
            nn.Conv2d(head_channels, num_classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)[-1]
        scores = self.head(self.ppm(features))
        return F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)
