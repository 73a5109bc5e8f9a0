"""GoogLeNet / Inception-v1 (Szegedy et al., 2014, "Going deeper with convolutions").

The Inception block looks at the same input at several scales at once: four
parallel branches (a 1x1 convolution; 1x1 then 3x3; 1x1 then 5x5; 3x3
max-pool then 1x1) whose outputs are concatenated along the channels. The
1x1 "reduce" convolutions in front of the larger kernels shrink the channels
first (the bottleneck), which keeps a 22-layer network at ~7M parameters.

Nine Inception blocks (3a-3b, 4a-4e, 5a-5b) sit between max-pools; global
average pooling and one linear layer classify, as in NiN. Two auxiliary
classifiers, after 4a and 4d, inject extra gradient into the middle of the
network while training; their losses are added with weight 0.3 and they are
ignored at inference.

This follows torchvision's version so its ImageNet weights load by position:
BatchNorm after every convolution (added after the paper), and a 3x3 kernel
in the "5x5" branch (a known slip in the original port, kept by torchvision
for weight compatibility, see pytorch/vision#906).

Inputs below 64 px get a 3x3 stride-1 stem without the two stem max-pools,
so 8 px digits reach the Inception blocks at full resolution.
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn

from dltrain.models.layers import ConvNormAct, imagenet_to_google_input, is_small_image, prepare_with_aux_heads

# torchvision's weights were trained with BatchNorm eps=1e-3.
Conv = partial(ConvNormAct, norm=partial(nn.BatchNorm2d, eps=1e-3))


class Inception(nn.Module):
    """The 4-branch block; the arguments are the columns of the paper's table 1."""

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3_reduce: int,
        ch3x3: int,
        ch5x5_reduce: int,
        ch5x5: int,
        pool_proj: int,
    ) -> None:
        super().__init__()
        self.branch1 = Conv(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            Conv(in_channels, ch3x3_reduce, kernel_size=1),
            Conv(ch3x3_reduce, ch3x3, kernel_size=3),
        )
        self.branch3 = nn.Sequential(
            Conv(in_channels, ch5x5_reduce, kernel_size=1),
            Conv(ch5x5_reduce, ch5x5, kernel_size=3),  # the paper's 5x5; 3x3 as in torchvision (see top)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            Conv(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool, 1x1 conv to 128, FC-1024, dropout 0.7, FC-classes."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = Conv(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The paper's 5x5/3 average pool turns the 14x14 map into 4x4; adaptive pooling
        # gives 4x4 from any map size (and equals it at 14x14).
        x = self.conv(nn.functional.adaptive_avg_pool2d(x, 4))
        x = self.dropout(torch.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class GoogLeNet(nn.Module):
    head_names = ("head", "aux1", "aux2")

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        aux_logits: bool = True,
        aux_weight: float = 0.3,
        dropout: float = 0.4,
        dropout_aux: float = 0.7,
    ) -> None:
        super().__init__()
        small = is_small_image(image_size)
        self.aux_logits = aux_logits
        self.aux_weight = aux_weight
        self.transform_input = False  # set when torchvision's (TensorFlow-ported) weights are loaded

        if small:
            self.conv1 = Conv(in_channels, 64, kernel_size=3, stride=1)
            self.maxpool1 = nn.Identity()
        else:
            self.conv1 = Conv(in_channels, 64, kernel_size=7, stride=2)
            self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = Conv(64, 64, kernel_size=1)
        self.conv3 = Conv(64, 192, kernel_size=3)
        self.maxpool2 = nn.Identity() if small else nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)

        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout_aux)  # after 4a
            self.aux2 = InceptionAux(528, num_classes, dropout_aux)  # after 4d
        else:
            self.head_names = ("head",)

        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(1024, num_classes)

        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def drop_aux_heads(self) -> None:
        """Remove the auxiliary classifiers (after loading weights that include them)."""
        del self.aux1, self.aux2
        self.aux_logits = False
        self.head_names = ("head",)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict:
        if self.transform_input:
            x = imagenet_to_google_input(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux_outputs = self.training and self.aux_logits
        aux1 = self.aux1(x) if aux_outputs else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if aux_outputs else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.head(self.dropout(torch.flatten(self.avgpool(x), 1)))
        if aux_outputs:
            return {"logits": logits, "aux": [aux1, aux2], "aux_weight": self.aux_weight}
        return logits


def googlenet(
    pretrained: bool = False, freeze_backbone: bool = False, aux_logits: bool = True, **kwargs
) -> GoogLeNet:
    # torchvision's weight file contains (untrained) auxiliary heads: loaded, then dropped if not wanted.
    return prepare_with_aux_heads(GoogLeNet, "googlenet", pretrained, freeze_backbone, aux_logits, **kwargs)
