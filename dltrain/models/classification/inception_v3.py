"""Inception-v3 (Szegedy et al., 2015, "Rethinking the Inception Architecture").

Inception-v1's blocks, made cheaper by factorising convolutions:

* Inception-A (35x35 grid): the 5x5 branch becomes two stacked 3x3
  convolutions (same receptive field, 28% fewer multiply-adds);
* Inception-B (17x17 grid; torchvision's ``InceptionC``): an n x n
  convolution becomes a 1 x n followed by an n x 1 one (here n = 7);
* Inception-C (8x8 grid; torchvision's ``InceptionE``): the 1x3 and 3x1
  convolutions run side by side and are concatenated, widening the output
  for the high-level, coarse features;
* grid reduction (torchvision's ``InceptionB`` and ``InceptionD``): pooling
  alone would throw information away and convolving before pooling is
  expensive, so a stride-2 convolution branch and a stride-2 max-pool branch
  run in parallel and are concatenated.

BatchNorm follows every convolution, and one auxiliary classifier on the
17x17 grid regularises training (its loss is added with weight 0.4, as in
the TF-slim training script). Layers are registered in torchvision's order
(with torchvision's names for the blocks, which are the paper's figure
names only in spirit) so its ImageNet weights load by position.

The paper's input is 299 px. Inputs below 75 px (the least the stem can
take) get a stem without down-sampling: stride-1, padded 3x3 convolutions
and no max-pools, so only the two grid reductions shrink the map
(32 -> 15 -> 7, 8 -> 3 -> 1).
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models.layers import ConvNormAct, imagenet_to_google_input, prepare_with_aux_heads

# torchvision's weights were trained with BatchNorm eps=1e-3.
Conv = partial(ConvNormAct, norm=partial(nn.BatchNorm2d, eps=1e-3))

# The paper stem and two valid-padded grid reductions need 75 px (torchvision's min_size).
MIN_PAPER_SIZE = 75


class InceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg-pool -> 1x1.

    torchvision (and the released weights) keep a 5x5 in the second branch; the paper's
    figure 5 factorises it into the two 3x3s of the third branch.
    """

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = Conv(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = Conv(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = Conv(48, 64, kernel_size=5)
        self.branch3x3dbl_1 = Conv(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = Conv(64, 96, kernel_size=3)
        self.branch3x3dbl_3 = Conv(96, 96, kernel_size=3)
        self.branch_pool = Conv(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool], dim=1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17: stride-2 3x3 | 1x1 -> 3x3 -> stride-2 3x3 | stride-2 max-pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = Conv(in_channels, 384, kernel_size=3, stride=2, padding=0)
        self.branch3x3dbl_1 = Conv(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = Conv(64, 96, kernel_size=3)
        self.branch3x3dbl_3 = Conv(96, 96, kernel_size=3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), branch3x3dbl, branch_pool], dim=1)


class InceptionC(nn.Module):
    """17x17 block (the paper's figure 6): 7x7 convolutions factorised into 1x7 and 7x1."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = Conv(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = Conv(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = Conv(c7, c7, kernel_size=(1, 7))
        self.branch7x7_3 = Conv(c7, 192, kernel_size=(7, 1))
        self.branch7x7dbl_1 = Conv(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = Conv(c7, c7, kernel_size=(7, 1))
        self.branch7x7dbl_3 = Conv(c7, c7, kernel_size=(1, 7))
        self.branch7x7dbl_4 = Conv(c7, c7, kernel_size=(7, 1))
        self.branch7x7dbl_5 = Conv(c7, 192, kernel_size=(1, 7))
        self.branch_pool = Conv(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = conv(branch7x7dbl)
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, branch_pool], dim=1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8: 1x1 -> stride-2 3x3 | 1x1 -> 1x7 -> 7x1 -> stride-2 3x3 | max-pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = Conv(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = Conv(192, 320, kernel_size=3, stride=2, padding=0)
        self.branch7x7x3_1 = Conv(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = Conv(192, 192, kernel_size=(1, 7))
        self.branch7x7x3_3 = Conv(192, 192, kernel_size=(7, 1))
        self.branch7x7x3_4 = Conv(192, 192, kernel_size=3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = self.branch7x7x3_1(x)
        for conv in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            branch7x7x3 = conv(branch7x7x3)
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, branch7x7x3, branch_pool], dim=1)


class InceptionE(nn.Module):
    """8x8 block (the paper's figure 7): 1x3 and 3x1 side by side, for a wider output."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = Conv(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = Conv(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = Conv(384, 384, kernel_size=(1, 3))
        self.branch3x3_2b = Conv(384, 384, kernel_size=(3, 1))
        self.branch3x3dbl_1 = Conv(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = Conv(448, 384, kernel_size=3)
        self.branch3x3dbl_3a = Conv(384, 384, kernel_size=(1, 3))
        self.branch3x3dbl_3b = Conv(384, 384, kernel_size=(3, 1))
        self.branch_pool = Conv(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], dim=1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat(
            [self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], dim=1
        )
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([self.branch1x1(x), branch3x3, branch3x3dbl, branch_pool], dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on the 17x17 grid: 5x5/3 avg-pool, 1x1 conv, 5x5 conv, FC.

    With ``global_pool=True`` (grids smaller than the paper's 17x17) it skips the 5x5/3
    pool, pads the 5x5 convolution, and averages over whatever map remains.
    """

    def __init__(self, in_channels: int, num_classes: int, global_pool: bool = False) -> None:
        super().__init__()
        self.global_pool = global_pool
        self.conv0 = Conv(in_channels, 128, kernel_size=1)
        self.conv1 = Conv(128, 768, kernel_size=5, padding=2 if global_pool else 0)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.global_pool:
            x = F.avg_pool2d(x, kernel_size=5, stride=3)  # 17x17 -> 5x5
        x = self.conv1(self.conv0(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Inception3(nn.Module):
    head_names = ("head", "aux")

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 299,
        aux_logits: bool = True,
        aux_weight: float = 0.4,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        small = image_size < MIN_PAPER_SIZE  # every is_small_image size (< 64 px), and 64-74 px too
        self.aux_logits = aux_logits
        self.aux_weight = aux_weight
        self.transform_input = False  # set when torchvision's (TensorFlow-ported) weights are loaded

        # Stem. Paper: 299 -> 149 -> 147 -> 147 -> 73 -> 73 -> 71 -> 35 (valid 3x3 convolutions).
        stride, pad = (1, 1) if small else (2, 0)
        self.Conv2d_1a_3x3 = Conv(in_channels, 32, kernel_size=3, stride=stride, padding=pad)
        self.Conv2d_2a_3x3 = Conv(32, 32, kernel_size=3, padding=1 if small else 0)
        self.Conv2d_2b_3x3 = Conv(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.Identity() if small else nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = Conv(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = Conv(80, 192, kernel_size=3, padding=1 if small else 0)
        self.maxpool2 = nn.Identity() if small else nn.MaxPool2d(kernel_size=3, stride=2)

        self.Mixed_5b = InceptionA(192, pool_features=32)  # 35x35
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)  # 35 -> 17
        self.Mixed_6b = InceptionC(768, channels_7x7=128)  # 17x17
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        if aux_logits:
            # The 5x5/3 pool and valid 5x5 convolution need the 17x17 grid of a 299 px input.
            self.aux = InceptionAux(768, num_classes, global_pool=image_size < 299)
        else:
            self.head_names = ("head",)
        self.Mixed_7a = InceptionD(768)  # 17 -> 8
        self.Mixed_7b = InceptionE(1280)  # 8x8
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2048, num_classes)

        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.1, a=-2, b=2)
        if aux_logits:  # smaller weights for the auxiliary head's last layers, as torchvision
            nn.init.trunc_normal_(self.aux.conv1[0].weight, mean=0.0, std=0.01, a=-2, b=2)
            nn.init.trunc_normal_(self.aux.fc.weight, mean=0.0, std=0.001, a=-2, b=2)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def drop_aux_heads(self) -> None:
        """Remove the auxiliary classifier (after loading weights that include it)."""
        del self.aux
        self.aux_logits = False
        self.head_names = ("head",)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict:
        if self.transform_input:
            x = imagenet_to_google_input(x)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x))))
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self.Mixed_6a(x)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        aux_outputs = self.training and self.aux_logits
        aux = self.aux(x) if aux_outputs else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        logits = self.head(torch.flatten(self.dropout(self.avgpool(x)), 1))
        if aux_outputs:
            return {"logits": logits, "aux": [aux], "aux_weight": self.aux_weight}
        return logits


def inception_v3(
    pretrained: bool = False, freeze_backbone: bool = False, aux_logits: bool = True, **kwargs
) -> Inception3:
    return prepare_with_aux_heads(Inception3, "inception_v3", pretrained, freeze_backbone, aux_logits, **kwargs)
