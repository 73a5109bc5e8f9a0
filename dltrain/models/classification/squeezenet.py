"""SqueezeNet (Iandola et al., 2016): AlexNet accuracy with 50x fewer parameters.

Three design strategies, all about parameter count:

1. replace most 3x3 filters by 1x1 filters (9x fewer weights each);
2. feed the remaining 3x3 filters few input channels, via a *squeeze* layer;
3. down-sample late, so the convolutions see large activation maps.

Strategies 1 and 2 make the **Fire module**: a 1x1 *squeeze* convolution
narrows the channels, then an *expand* layer of 1x1 and 3x3 convolutions in
parallel, whose outputs are concatenated. There are no fully connected layers:
the last convolution (conv10) has one output channel per class and global
average pooling turns each map into a logit. Version 1.1 (the SqueezeNet
repository) uses a 3x3 first convolution and pools earlier, for 2.4x less
computation at the same accuracy.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from dltrain.models import transfer
from dltrain.models.layers import ConvNormAct, is_small_image


def max_pool() -> nn.MaxPool2d:
    # ceil_mode keeps the border row/column that a 3x3/2 pool would otherwise drop.
    return nn.MaxPool2d(3, stride=2, ceil_mode=True)


class Fire(nn.Module):
    """Squeeze (1x1) then expand (1x1 and 3x3 in parallel, concatenated); ReLU after each conv."""

    def __init__(self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__()
        # SqueezeNet has no BatchNorm: each conv carries its own bias.
        self.squeeze = ConvNormAct(in_channels, squeeze, 1, norm=None)
        self.expand1x1 = ConvNormAct(squeeze, expand1x1, 1, norm=None)
        self.expand3x3 = ConvNormAct(squeeze, expand3x3, 3, norm=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return torch.cat((self.expand1x1(x), self.expand3x3(x)), dim=1)


class SqueezeNet(nn.Module):
    """SqueezeNet 1.1; layers are named as in the paper (conv1, fire2-fire9, conv10 = ``head``).

    Small inputs (below 64 px): conv1 uses stride 1 with padding 1 and the
    first max-pool is dropped, so the total stride drops from 16 to 4 and 8 px
    digits end at 2x2 instead of vanishing after the first pool.

    ``final_relu=True`` keeps the paper's ReLU after conv10 and reproduces
    torchvision's outputs exactly. It is off by default: a ReLU on the logits
    gives no gradient to a class whose logit turns negative for every input,
    so classes die for good (trained from scratch on the digits with Adam at
    1e-3, the model stuck at 20% accuracy with it and learned without it).
    The ReLU has no weights, so either setting loads the same ImageNet weights;
    ``squeezenet1_1(final_relu=None)`` keeps it exactly when the weights are
    torchvision's, so a pretrained model computes what torchvision's does.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        dropout: float = 0.5,
        final_relu: bool = False,
    ) -> None:
        super().__init__()
        small = is_small_image(image_size)
        self.features = nn.Sequential(OrderedDict(
            conv1=ConvNormAct(in_channels, 64, 3, stride=1 if small else 2, padding=1 if small else 0, norm=None),
            maxpool1=nn.Identity() if small else max_pool(),
            fire2=Fire(64, 16, 64, 64),
            fire3=Fire(128, 16, 64, 64),
            maxpool3=max_pool(),
            fire4=Fire(128, 32, 128, 128),
            fire5=Fire(256, 32, 128, 128),
            maxpool5=max_pool(),
            fire6=Fire(256, 48, 192, 192),
            fire7=Fire(384, 48, 192, 192),
            fire8=Fire(384, 64, 256, 256),
            fire9=Fire(512, 64, 256, 256),
        ))
        self.dropout = nn.Dropout(dropout)  # the paper's only regulariser, after fire9
        # conv10: a 1x1 conv classifier (one map per class), then global average pooling.
        self.head = nn.Conv2d(512, num_classes, 1)
        self.relu = nn.ReLU(inplace=True) if final_relu else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # As torchvision: He init for the ReLU convs, a small normal init for conv10.
                if m is self.head:
                    nn.init.normal_(m.weight, 0.0, 0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.head(self.dropout(self.features(x))))
        return torch.flatten(self.pool(x), 1)


def squeezenet1_1(pretrained: bool = False, freeze_backbone: bool = False, final_relu: bool | None = None,
                  **kwargs) -> SqueezeNet:
    final_relu = pretrained if final_relu is None else final_relu  # the weights were trained with it
    return transfer.prepare(SqueezeNet(final_relu=final_relu, **kwargs), "squeezenet1_1", pretrained,
                            freeze_backbone)
