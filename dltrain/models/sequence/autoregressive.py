"""The autoregressive model of the notes for time series: predict x_t from the previous tau values.

Markov assumption: x_t depends on the recent past only, so the model reads a
fixed window ``(x_{t-tau}, ..., x_{t-1})`` as ``tau`` features and regresses
``x_t`` with a small MLP (d2l's sine example uses two 10-unit layers).
Predicting k steps ahead feeds the model its own predictions, and errors
compound: the task reports the error at several horizons.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class AutoregressiveMLP(nn.Module):
    """(B, tau) window of past values -> (B,) the next value."""

    def __init__(self, num_features: int, hidden_sizes: Sequence[int] = (10,), dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = num_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)
        for module in self.modules():
            if isinstance(module, nn.Linear):  # Xavier, as d2l initialises this model
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(window)).squeeze(-1)
