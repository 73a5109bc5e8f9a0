"""ShuffleNet v2 (Ma et al., 2018): channel split and channel shuffle.

The paper measures real speed rather than FLOPs and derives four guidelines:
equal input/output widths minimise memory access, group convolutions and
fragmented (multi-branch) blocks are slow, and element-wise operations
(adds, ReLUs) are not free. Its unit follows them:

* **channel split**: half of the channels pass through untouched (a free
  shortcut, no element-wise add); the other half goes through
  1x1 conv -> 3x3 depthwise conv -> 1x1 conv, all with equal widths;
* the two halves are **concatenated** (not added) and then **shuffled**:
  the channels are interleaved so the next unit's split mixes information
  from both branches.

The *down-sampling unit* skips the split: both branches see all channels,
both use a stride-2 depthwise conv, and the concatenation doubles the width.
Stages 2-4 each start with one down-sampling unit followed by basic units.
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.models import transfer
from dltrain.models.layers import ConvNormAct, is_small_image, kaiming_init

# Paper Table 5: output channels of stages 2-4 and conv5 for each width (conv1 is always 24).
STAGE_CHANNELS: dict[float, tuple[int, int, int, int]] = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}
STAGE_REPEATS = (4, 8, 4)


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    """Interleave channels: view as (groups, C/groups), transpose, flatten (ShuffleNet v1, Figure 1)."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def branch(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """1x1 conv + BN + ReLU, 3x3 depthwise conv + BN (no ReLU), 1x1 conv + BN + ReLU (Figure 3c/d, right)."""
    return nn.Sequential(
        ConvNormAct(in_channels, out_channels, 1),
        ConvNormAct(out_channels, out_channels, 3, stride, groups=out_channels, activation=None),
        ConvNormAct(out_channels, out_channels, 1),
    )


class BasicUnit(nn.Module):
    """Figure 3(c): split channels in two, transform one half, concatenate, shuffle."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.right = branch(channels // 2, channels // 2, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat((left, self.right(right)), dim=1))


class DownsamplingUnit(nn.Module):
    """Figure 3(d): no split; both branches stride 2; concatenation doubles the width."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        half = out_channels // 2
        self.left = nn.Sequential(
            ConvNormAct(in_channels, in_channels, 3, 2, groups=in_channels, activation=None),
            ConvNormAct(in_channels, half, 1),
        )
        self.right = branch(in_channels, half, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(torch.cat((self.left(x), self.right(x)), dim=1))


class ShuffleNetV2(nn.Module):
    """ShuffleNet v2 at ``width_mult`` 0.5, 1.0, 1.5 or 2.0 (paper Table 5).

    Small inputs (below 64 px): conv1 uses stride 1 and the max-pool is
    dropped (the CIFAR-style stem), so the total stride drops from 32 to 8;
    the three stage down-samplings remain, and 8 px digits end at 1x1.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        width_mult: float = 1.0,
    ) -> None:
        super().__init__()
        if width_mult not in STAGE_CHANNELS:
            raise UserError(f"ShuffleNet v2 has widths {sorted(STAGE_CHANNELS)}; got width_mult={width_mult}.")
        small = is_small_image(image_size)
        *stage_channels, last_channels = STAGE_CHANNELS[width_mult]
        self.conv1 = ConvNormAct(in_channels, 24, 3, stride=1 if small else 2)
        self.maxpool = nn.Identity() if small else nn.MaxPool2d(3, stride=2, padding=1)
        channels = 24
        stages: list[nn.Sequential] = []
        for out_channels, repeats in zip(stage_channels, STAGE_REPEATS):
            units = [DownsamplingUnit(channels, out_channels)]
            units += [BasicUnit(out_channels) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*units))
            channels = out_channels
        self.stage2, self.stage3, self.stage4 = stages
        self.conv5 = ConvNormAct(channels, last_channels, 1)
        self.head = nn.Linear(last_channels, num_classes)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.head(x.mean(dim=(2, 3)))  # global average pooling


def shufflenet_v2(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> ShuffleNetV2:
    model = ShuffleNetV2(**kwargs)
    name = f"shufflenet_v2_x{float(kwargs.get('width_mult', 1.0)):.1f}".replace(".", "_")
    return transfer.prepare(model, name, pretrained, freeze_backbone)
