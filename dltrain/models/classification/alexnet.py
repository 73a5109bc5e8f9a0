"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012): the network that won ImageNet 2012.

LeNet made much bigger and deeper: five convolutions (an 11x11 stride-4 one
first, to shrink a 224 px image quickly) and three fully connected layers of
which the first two have 4096 units. What made it train:

* ReLU instead of the sigmoid, so gradients do not vanish in the deep stack;
* dropout (p=0.5) before the two big fully connected layers, against
  over-fitting of their ~55M parameters;
* Local Response Normalisation after the first two convolutions: each
  activation is divided by the energy of its neighbouring channels, a
  "lateral inhibition" that the paper found worth ~1% top-1 (BatchNorm later
  made it obsolete; ``use_lrn=False`` drops it). torchvision's ImageNet
  weights were trained without it, so ``pretrained=True`` builds the
  network without LRN, and asking for both is refused;
* overlapping max-pooling (3x3 windows, stride 2).

The channel widths (64, 192, 384, 256, 256) are torchvision's single-GPU
version of the paper's two-GPU network, so its ImageNet weights load here.
Small inputs (below 64 px) get a 3x3 stride-1 first convolution and padded
pooling, so 8 px digits still leave a 1x1 map; the pooled grid in front of
the classifier is then at most the map itself (no upsampling).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.models import transfer
from dltrain.models.layers import is_small_image, kaiming_init


def local_response_norm() -> nn.LocalResponseNorm:
    # Paper: k=2, n=5, alpha=1e-4, beta=0.75 with the sum scaled by alpha.
    # PyTorch scales the sum by alpha / n, so alpha = 5 * 1e-4 gives the paper's formula.
    return nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)


class AlexNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        dropout: float = 0.5,
        use_lrn: bool = True,
    ) -> None:
        super().__init__()
        small = is_small_image(image_size)
        if small:
            # 3x3 stride-1 stem; pooling pads so that each pool halves the map (8 -> 4 -> 2 -> 1).
            stem = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
            pool_padding = 1
            grid = min(6, math.ceil(image_size / 8))
        else:
            stem = nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2)
            pool_padding = 0
            grid = 6

        def lrn() -> nn.Module:
            return local_response_norm() if use_lrn else nn.Identity()

        self.features = nn.Sequential(
            stem,  # conv1
            nn.ReLU(inplace=True),
            lrn(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=pool_padding),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),  # conv2
            nn.ReLU(inplace=True),
            lrn(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=pool_padding),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),  # conv3
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),  # conv4
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),  # conv5
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=pool_padding),
        )
        # Fixes the classifier's input size for any image size (6x6 at 224 px).
        self.avgpool = nn.AdaptiveAvgPool2d(grid)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(256 * grid * grid, 4096),  # fc6
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),  # fc7
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(4096, num_classes)  # fc8
        # He init: the paper's N(0, 0.01) makes an 8-layer ReLU net without normalisation
        # start with vanishing activations and learn slowly.
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.head(self.classifier(torch.flatten(x, 1)))


def alexnet(pretrained: bool = False, freeze_backbone: bool = False, use_lrn: bool | None = None,
            **kwargs) -> AlexNet:
    """``use_lrn=None``: the paper's LRN when trained from scratch, none with torchvision's weights (trained
    without it: loading them into a network with LRN would change every output)."""
    if pretrained and use_lrn:
        raise UserError("torchvision's AlexNet weights were trained without local response normalisation: "
                        "drop model.use_lrn=true (or set model.pretrained=false to train the paper's network).")
    use_lrn = not pretrained if use_lrn is None else use_lrn
    return transfer.prepare(AlexNet(use_lrn=use_lrn, **kwargs), "alexnet", pretrained, freeze_backbone)
