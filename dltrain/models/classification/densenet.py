"""DenseNet (Huang et al., 2016): every layer sees the feature maps of all layers before it.

ResNet *adds* a block's input to its output; DenseNet *concatenates* them.
Inside a dense block, layer ``l`` receives ``[x_0, x_1, ..., x_{l-1}]`` and
contributes only ``growth_rate`` (k) new channels, so layers stay thin, features
are reused instead of relearned, and every layer has a short path to the loss.

* Dense layer (DenseNet-B): BN-ReLU-1x1 conv to ``bn_size * k`` channels (a
  bottleneck that keeps the 3x3 cheap however wide the input grows), then
  BN-ReLU-3x3 conv to ``k`` channels. Pre-activation order, as in ResNet v2.
* Transition layer (DenseNet-C): between blocks, BN-ReLU-1x1 conv shrinks the
  channels by ``compression`` (0.5) and a 2x2 average pool halves the resolution.

DenseNet-121 = stem + blocks of (6, 12, 24, 16) layers, k = 32, bn_size = 4.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models import transfer
from dltrain.models.layers import ConvNormAct, is_small_image, kaiming_init


def norm_act_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """BN -> ReLU -> conv: the pre-activation unit every dense and transition layer is made of."""
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
    )


class DenseLayer(nn.Module):
    """Bottleneck 1x1 then 3x3; returns only the ``growth_rate`` new channels."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int, dropout: float) -> None:
        super().__init__()
        self.bottleneck = norm_act_conv(in_channels, bn_size * growth_rate, 1)
        self.conv = norm_act_conv(bn_size * growth_rate, growth_rate, 3)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.conv(self.bottleneck(x)))


class DenseBlock(nn.Module):
    """``num_layers`` dense layers, each fed the concatenation of the input and all earlier outputs."""

    def __init__(
        self, num_layers: int, in_channels: int, growth_rate: int, bn_size: int, dropout: float
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, dropout)
            for i in range(num_layers)
        )
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transition(nn.Sequential):
    """Compress channels (1x1 conv) and halve the resolution (2x2 average pool) between dense blocks."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(*norm_act_conv(in_channels, out_channels, 1), nn.AvgPool2d(kernel_size=2, stride=2))


class DenseNet(nn.Module):
    """Stem, dense blocks joined by transition layers, a final BN-ReLU, global pooling and ``head``."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        growth_rate: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        compression: float = 0.5,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if is_small_image(image_size):
            # CIFAR-style stem: 3x3/1 conv, no pooling, so the three transitions take
            # 32 px to 4 px (and 8 px digits to 1 px) instead of shrinking below 1 px.
            self.stem = nn.Sequential(ConvNormAct(in_channels, num_init_features, 3))
        else:
            self.stem = nn.Sequential(
                ConvNormAct(in_channels, num_init_features, 7, stride=2),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        stages: list[nn.Module] = []
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size, dropout)
            stages.append(block)
            channels = block.out_channels
            if i != len(block_config) - 1:
                stages.append(Transition(channels, int(channels * compression)))
                channels = int(channels * compression)
        self.features = nn.Sequential(*stages)
        # The layers are pre-activation, so the last block's output still needs its BN-ReLU.
        self.final_norm = nn.BatchNorm2d(channels)
        self.num_features = channels
        self.head = nn.Linear(channels, num_classes)
        # He init with fan_out, as the authors' Torch code (fb.resnet.torch) does.
        kaiming_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map before pooling, after the final BN-ReLU."""
        return F.relu(self.final_norm(self.features(self.stem(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(F.adaptive_avg_pool2d(self.forward_features(x), 1), 1))


def densenet121(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> DenseNet:
    model = DenseNet(growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, **kwargs)
    return transfer.prepare(model, "densenet121", pretrained, freeze_backbone)
