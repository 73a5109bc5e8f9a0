"""MobileNet v2 (Sandler et al., 2018): inverted residuals and linear bottlenecks.

MobileNet v1 stacks depthwise-separable convolutions; v2 wraps them in a
residual block that is "inverted" compared with ResNet's bottleneck:

* a 1x1 conv *expands* a thin input (t = 6 times more channels) + ReLU6,
* a 3x3 *depthwise* conv filters in that wide space + ReLU6,
* a 1x1 conv *projects* back to a thin output with **no** activation.

The thin tensors carry the information between blocks and the shortcut
connects them. The projection is linear because a ReLU in a low-dimensional
space destroys information (paper Section 3.2), while in the expanded space it
is harmless. ReLU6 (ReLU clipped at 6) keeps activations in a range that
survives low-precision inference.
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.models import transfer
from dltrain.models.layers import ConvNormAct, is_small_image, kaiming_init, make_divisible

# Paper Table 2: expansion t, output channels c, repeats n, stride s of the first repeat.
BOTTLENECKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class InvertedResidual(nn.Module):
    """Bottleneck residual block (paper Table 1): expand -> depthwise -> linear projection."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(in_channels * expand_ratio))
        # The shortcut only exists where input and output have the same shape.
        self.use_shortcut = stride == 1 and in_channels == out_channels
        # With t = 1 (first block) the input is already the "wide" tensor: nothing to expand.
        self.expand = (
            ConvNormAct(in_channels, hidden, 1, activation=nn.ReLU6) if expand_ratio != 1 else nn.Identity()
        )
        self.depthwise = ConvNormAct(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6)
        # Linear bottleneck: BN but no activation.
        self.project = ConvNormAct(hidden, out_channels, 1, activation=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return x + out if self.use_shortcut else out


class MobileNetV2(nn.Module):
    """MobileNet v2; ``width_mult`` scales every layer (paper Section 6.1).

    Small inputs (below 64 px): the stem convolution and the first stride-2
    bottleneck stage (24 channels) use stride 1, so the total stride drops
    from 32 to 8 (as in the usual CIFAR adaptation); 8 px digits end at 1x1.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        width_mult: float = 1.0,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        small = is_small_image(image_size)
        channels = make_divisible(32 * width_mult)
        self.stem = ConvNormAct(in_channels, channels, 3, stride=1 if small else 2, activation=nn.ReLU6)

        blocks: list[nn.Module] = []
        for stage, (t, c, n, s) in enumerate(BOTTLENECKS):
            if small and stage == 1:
                s = 1
            out_channels = make_divisible(c * width_mult)
            for i in range(n):
                blocks.append(InvertedResidual(channels, out_channels, s if i == 0 else 1, t))
                channels = out_channels
        self.blocks = nn.Sequential(*blocks)

        # The last 1x1 conv is never thinned below 1280 channels (paper Section 6.1).
        last_channels = make_divisible(1280 * max(1.0, width_mult))
        self.last_conv = ConvNormAct(channels, last_channels, 1, activation=nn.ReLU6)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(last_channels, num_classes)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.last_conv(self.blocks(self.stem(x)))
        return self.head(self.dropout(torch.flatten(self.pool(x), 1)))


def mobilenet_v2(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> MobileNetV2:
    if pretrained and kwargs.get("width_mult", 1.0) != 1.0:
        raise UserError("torchvision's MobileNet v2 weights exist only for width_mult=1.0; "
                        "set model.width_mult=1.0 or model.pretrained=false.")
    return transfer.prepare(MobileNetV2(**kwargs), "mobilenet_v2", pretrained, freeze_backbone)
