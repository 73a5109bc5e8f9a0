"""Classification networks of this project reused as segmentation encoders.

The backbones come from ``dltrain.models.classification`` (their factories
load torchvision's ImageNet weights with ``pretrained=true``); only the
convolutional part is kept, the classifier head is dropped.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.models.classification import resnet, vgg

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")


def freeze(module: nn.Module) -> None:
    """Stop training ``module``; its BatchNorm statistics are then kept too (see ``frozen_norm_layers``)."""
    for parameter in module.parameters():
        parameter.requires_grad_(False)


def vgg_features(
    name: str = "vgg16",
    in_channels: int = 3,
    width_multiplier: float = 1.0,
    batch_norm: bool = False,
    pretrained: bool = False,
) -> nn.Sequential:
    """VGG's convolutional layers (five stages, each closed by a 2x2 max-pool).

    ``width_multiplier`` < 1 scales every stage's width (no pretrained weights then),
    so a small CPU run can keep the architecture and lose most of the cost.
    """
    if name not in vgg.CONFIGS:
        raise UserError(f"model.backbone={name} is not a VGG; use one of {', '.join(vgg.CONFIGS)}.")
    if width_multiplier != 1.0:
        if pretrained:
            raise UserError("Pretrained VGG weights need model.width_multiplier=1.0; or set model.pretrained=false.")
        config = [v if v == "M" else max(int(v * width_multiplier), 4) for v in vgg.CONFIGS[name]]
        return vgg.make_layers(config, in_channels, image_size=224, batch_norm=batch_norm)
    factory = getattr(vgg, f"{name}_bn" if batch_norm else name)
    # image_size=224 keeps all five pools whatever the input size (FCN pads inputs itself)
    return factory(pretrained=pretrained, in_channels=in_channels, image_size=224).features


class ResNetBackbone(nn.Module):
    """Stem and the four stages of a ResNet, returning every stage's feature map.

    ``output_stride`` 32 is the classification network; 16 dilates ``layer4`` and
    8 dilates ``layer3`` and ``layer4`` (DeepLab's atrous trick: same weights,
    larger maps, since stride is traded for dilation).
    """

    def __init__(
        self,
        name: str = "resnet50",
        in_channels: int = 3,
        image_size: int = 224,
        output_stride: int = 16,
        pretrained: bool = False,
    ) -> None:
        super().__init__()
        if name not in RESNETS:
            raise UserError(f"model.backbone={name} is not supported; use one of {', '.join(RESNETS)}.")
        dilate = {32: (False, False, False), 16: (False, False, True), 8: (False, True, True)}.get(output_stride)
        if dilate is None:
            raise UserError(f"model.output_stride={output_stride} is not possible; use 8, 16 or 32.")
        network = getattr(resnet, name)(pretrained=pretrained, in_channels=in_channels, image_size=image_size,
                                        replace_stride_with_dilation=dilate)
        self.stem, self.layer1, self.layer2 = network.stem, network.layer1, network.layer2
        self.layer3, self.layer4 = network.layer3, network.layer4
        self.stage_channels: Sequence[int] = network.stage_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        x = self.stem(x)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            features.append(x)
        return features
