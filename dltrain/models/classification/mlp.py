"""Multilayer perceptron: the perceptron / softmax regression of the notes, made deep.

With ``hidden_sizes=[]`` it is exactly softmax regression (one linear layer
whose logits feed the cross-entropy loss); each hidden layer adds
Linear -> ReLU -> Dropout. It flattens each example first, so it takes
features (N, F), signals (N, C, L) and images (N, C, H, W) alike; the input
size comes from the data's facts (``layers.flat_input_size``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models import transfer
from dltrain.models.layers import flat_input_size


class MLP(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int | None = 1,
        image_size: int | Sequence[int] | None = 28,
        hidden_sizes: Sequence[int] = (256, 128),
        dropout: float = 0.1,
        num_features: int | None = None,
        seq_len: int | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = flat_input_size(num_features, in_channels, image_size, seq_len)
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = hidden
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):  # Kaiming for ReLU layers, as the notes recommend
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def mlp(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> MLP:
    return transfer.prepare(MLP(**kwargs), None, pretrained, freeze_backbone)
