"""VGG (Simonyan & Zisserman, 2014): depth from one repeated block.

The whole network is stacks of 3x3 convolutions (stride 1, padding 1) closed
by a 2x2 max-pool that halves the map; the channel width doubles after each
pool (64 -> 128 -> 256 -> 512 -> 512). Two stacked 3x3 convolutions see a
5x5 window and three see 7x7, with fewer parameters and more ReLUs than one
large kernel. The configurations differ only in how many convolutions each
stage has (the paper's table 1: A = VGG-11, B = 13, D = 16, E = 19), so one
class built from a layer list covers the family; ``batch_norm=True`` adds
BatchNorm after every convolution (the later "_bn" variants).

Three fully connected layers (4096, 4096, classes) with dropout classify the
7x7x512 map. Small inputs (below 64 px) keep the 3x3 stacks but skip a
max-pool once the map is 1 px, and pool to 1x1 instead of 7x7 (no upsampling).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models import transfer
from dltrain.models.layers import is_small_image, kaiming_init

# The paper's table 1: an int is a 3x3 convolution with that many channels, "M" a 2x2 max-pool.
CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [
        64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
        512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
    ],
}


def make_layers(
    config: Sequence[int | str], in_channels: int, image_size: int, batch_norm: bool
) -> nn.Sequential:
    """The convolutional part of VGG from a layer list (torchvision's order of layers)."""
    layers: list[nn.Module] = []
    size = image_size
    for v in config:
        if v == "M":
            if size >= 2:  # a pool on a 1 px map would leave nothing (tiny inputs only)
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                size //= 2
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


def he_fan_in_init(features: nn.Sequential, image_size: int) -> None:
    """He et al.'s forward-preserving initialisation (fan-in), counting only the kernel taps that see data.

    Without BatchNorm nothing rescales the signal, so the initial weights must keep its variance layer after
    layer. torchvision's He fan-out init does not for VGG's first convolution on a 1-channel image (64x less
    variance), nor on small maps, where a 3x3 kernel on a 1 px map sees data only at its centre tap (9x less per
    layer): on 8 px digits the logits start near 1e-5 and no learning rate moves them. With fan-in over the
    taps that see data VGG-19 learns (docs/models.md); at 32 px and above only the tap count of VGG's last
    stage (2 px maps at 32 px) differs from plain He fan-in.
    """
    size = image_size
    for layer in features:
        if isinstance(layer, nn.MaxPool2d):
            size //= 2
        elif isinstance(layer, nn.Conv2d):
            taps = min(size, 3) ** 2  # a 3x3 kernel with padding 1 on an s x s map, s < 3, sees s x s inputs
            nn.init.normal_(layer.weight, 0, (2 / (layer.in_channels * taps)) ** 0.5)


class VGG(nn.Module):
    def __init__(
        self,
        config: Sequence[int | str],
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        batch_norm: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        grid = 1 if is_small_image(image_size) else 7
        self.features = make_layers(config, in_channels, image_size, batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d(grid)
        self.classifier = nn.Sequential(
            nn.Linear(512 * grid * grid, 4096),  # FC-4096
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),  # FC-4096
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.head = nn.Linear(4096, num_classes)  # FC-classes
        kaiming_init(self)  # as torchvision: He for convolutions, N(0, 0.01) for linear layers
        if not batch_norm:
            he_fan_in_init(self.features, image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.head(self.classifier(torch.flatten(x, 1)))


def _vgg(name: str, batch_norm: bool, pretrained: bool, freeze_backbone: bool, **kwargs) -> VGG:
    model = VGG(CONFIGS[name], batch_norm=batch_norm, **kwargs)
    torchvision_name = f"{name}_bn" if batch_norm else name
    return transfer.prepare(model, torchvision_name, pretrained, freeze_backbone)


def vgg11(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VGG:
    return _vgg("vgg11", False, pretrained, freeze_backbone, **kwargs)


def vgg13(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VGG:
    return _vgg("vgg13", False, pretrained, freeze_backbone, **kwargs)


def vgg16(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VGG:
    return _vgg("vgg16", False, pretrained, freeze_backbone, **kwargs)


def vgg19(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VGG:
    return _vgg("vgg19", False, pretrained, freeze_backbone, **kwargs)


def vgg11_bn(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VGG:
    return _vgg("vgg11", True, pretrained, freeze_backbone, **kwargs)


def vgg13_bn(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VGG:
    return _vgg("vgg13", True, pretrained, freeze_backbone, **kwargs)


def vgg16_bn(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VGG:
    return _vgg("vgg16", True, pretrained, freeze_backbone, **kwargs)


def vgg19_bn(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VGG:
    return _vgg("vgg19", True, pretrained, freeze_backbone, **kwargs)
