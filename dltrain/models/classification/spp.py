"""Spatial pyramid pooling (SPP-net), He et al., "Spatial Pyramid Pooling in Deep Convolutional
Networks for Visual Recognition", 2014.

Convolutions accept any image size; only the fully connected layers need a
fixed-length input, which is why classic CNNs crop or warp images to one
size. SPP replaces the last pooling layer: it max-pools the final feature
map over an l x l grid of bins for each pyramid level l (e.g. 1, 2, 4), so a
C-channel map of any height and width becomes a vector of fixed length
C * sum(l * l). The bins scale with the map (adaptive pooling), so the
network trains and predicts at several input sizes, and the coarse-to-fine
grid keeps some spatial layout that global pooling would lose.

``SpatialPyramidPooling`` works behind any convolutional feature extractor;
``SPPNet`` is a small example network: conv feature extractor (BatchNorm, a
modern addition) -> SPP -> FC -> ReLU -> Dropout -> FC.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models import transfer
from dltrain.models.layers import ConvNormAct, is_small_image, kaiming_init


class SpatialPyramidPooling(nn.Module):
    """Max-pool a (B, C, H, W) map over l x l bins per level; output (B, C * sum(l * l)) for any H, W."""

    def __init__(self, levels: Sequence[int] = (1, 2, 4)) -> None:
        super().__init__()
        self.levels = tuple(levels)
        self.pools = nn.ModuleList(nn.AdaptiveMaxPool2d(level) for level in self.levels)

    def output_size(self, channels: int) -> int:
        return channels * sum(level * level for level in self.levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([pool(x).flatten(1) for pool in self.pools], dim=1)


class SPPNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        channels: Sequence[int] = (64, 128, 256),
        levels: Sequence[int] = (1, 2, 4),
        hidden: int = 512,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = image_size
        if not is_small_image(image_size):
            # ImageNet-sized input: a 7x7 stride-2 conv and a max-pool shrink the map 4x first (as ZF-Net)
            layers += [ConvNormAct(in_channels, channels[0], 7, stride=2), nn.MaxPool2d(3, 2, padding=1)]
            in_channels, size = channels[0], size // 4
        for width in channels:
            layers.append(ConvNormAct(in_channels, width, 3))
            if size >= 8:  # halve the map while it is large; tiny inputs keep their resolution
                layers.append(nn.MaxPool2d(2))
                size //= 2
            in_channels = width
        self.features = nn.Sequential(*layers)
        # SPP replaces the last pooling layer: fixed-length output whatever the input size
        self.spp = SpatialPyramidPooling(levels)
        self.head = nn.Sequential(
            nn.Linear(self.spp.output_size(in_channels), hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.spp(self.features(x)))


def spp_net(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> SPPNet:
    return transfer.prepare(SPPNet(**kwargs), None, pretrained, freeze_backbone)
