"""ResNet-9: David Page's small residual net for fast CIFAR-10 training (DAWNBench, 2018).

Page ("How to train your ResNet", myrtle.ai) showed that a 9-layer residual
net trains to 94% CIFAR-10 test accuracy in 24 epochs, where ResNet-18 needs
far more compute: few layers but wide ones (64 -> 128 -> 256 -> 512) keep the
GPU busy, max-pooling halves the resolution after each widening convolution,
and two residual blocks (at 128 and 512 channels) let the gradient skip. Every
convolution is 3x3 -> BatchNorm -> ReLU without bias:

    prep    conv 64
    layer1  conv 128, max-pool 2, + residual(conv 128, conv 128)
    layer2  conv 256, max-pool 2
    layer3  conv 512, max-pool 2, + residual(conv 512, conv 512)
    head    global max-pool, linear 512 -> classes (no bias), logits x 0.125

The final scaling by 0.125 keeps the initial logits small, so the softmax
starts near uniform and the large learning rate of the short schedule does not
blow up the first steps (Page's trick). ``width`` scales every stage.
Used by ``experiment=cifar10_speedrun``; any image size >= 8 works (three
pools, then a global pool).
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.models import transfer
from dltrain.models.layers import ConvNormAct, kaiming_init


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(ConvNormAct(channels, channels), ConvNormAct(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class ResNet9(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 64,
                 logit_scale: float = 0.125) -> None:
        super().__init__()
        w1, w2, w3, w4 = width, 2 * width, 4 * width, 8 * width
        self.features = nn.Sequential(
            ConvNormAct(in_channels, w1),                                 # prep
            ConvNormAct(w1, w2), nn.MaxPool2d(2), Residual(w2),           # layer1
            ConvNormAct(w2, w3), nn.MaxPool2d(2),                         # layer2
            ConvNormAct(w3, w4), nn.MaxPool2d(2), Residual(w4),           # layer3
            nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(w4, num_classes, bias=False)
        self.logit_scale = logit_scale
        kaiming_init(self)
        nn.init.kaiming_uniform_(self.head.weight, a=5 ** 0.5)  # nn.Linear's default: the 0.125 does the shrinking

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)) * self.logit_scale


def resnet9(pretrained: bool = False, freeze_backbone: bool = False, image_size: int | None = None,
            **kwargs) -> ResNet9:
    """``image_size`` is accepted (model configs pass the data's) and not needed: the head pools globally."""
    return transfer.prepare(ResNet9(**kwargs), None, pretrained, freeze_backbone)
