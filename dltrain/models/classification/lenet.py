"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998), in the form d2l teaches it.

The first convolutional network that worked in practice: two convolution +
sub-sampling stages learn local features (strokes, then stroke combinations),
and three fully connected layers (120 -> 84 -> classes) read them out. Weight
sharing makes the convolutions cheap; sub-sampling (average pooling) makes
the features tolerant to small shifts of the digit.

The paper fed 32x32 images (the 28x28 MNIST digit centred with a border),
so the convolutions need no padding there: 32 -> 28 -> 14 -> 10 -> 5. d2l
pads the first convolution by 2 to get the same 5x5 map from 28x28 MNIST.
Smaller inputs (8x8 sklearn digits) also pad the second convolution, so the
maps stay at least 2x2 instead of vanishing.

The paper used a scaled tanh; d2l uses the sigmoid and notes that ReLU
trains much faster. ``activation`` picks "relu" (default) or "sigmoid".
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.models import transfer

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}


class LeNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise UserError(
                f"LeNet activation must be one of {sorted(_ACTIVATIONS)}, not '{activation}'; "
                "set model.activation=relu or model.activation=sigmoid."
            )
        act = _ACTIVATIONS[activation]
        # Pad only where the paper's 32x32 geometry would otherwise shrink the maps away.
        pad1 = 0 if image_size >= 32 else 2
        size = (image_size + 2 * pad1 - 4) // 2  # after C1 (5x5) and S2 (2x2 pooling)
        pad2 = 0 if size >= 10 else 2
        size = (size + 2 * pad2 - 4) // 2  # after C3 (5x5) and S4
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=pad1),  # C1
            act(),
            nn.AvgPool2d(kernel_size=2, stride=2),  # S2
            nn.Conv2d(6, 16, kernel_size=5, padding=pad2),  # C3
            act(),
            nn.AvgPool2d(kernel_size=2, stride=2),  # S4
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * size * size, 120),  # C5 (a full-size convolution = a linear layer)
            act(),
            nn.Linear(120, 84),  # F6
            act(),
        )
        self.head = nn.Linear(84, num_classes)  # output layer
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                # Xavier keeps sigmoid units out of saturation (d2l); He init suits ReLU.
                if activation == "sigmoid":
                    nn.init.xavier_uniform_(m.weight)
                else:
                    nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.classifier(self.features(x)))


def lenet(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> LeNet:
    return transfer.prepare(LeNet(**kwargs), None, pretrained, freeze_backbone)
