"""Linear, logistic and softmax regression: one affine layer each.

* Linear regression:   y_hat = X w + b, trained by minimising the squared error.
* Logistic regression: P(y=1 | x) = sigma(x^T w + b); the model returns the
  logit x^T w + b and the loss (BCE with logits) applies the sigmoid, because
  log(sigma(z)) computed in one step does not overflow.
* Softmax regression:  P(y=k | x) = softmax(W x + b)_k; the model returns the
  logits W x + b and cross-entropy applies the (log-)softmax.

Each flattens an example first, so it takes features (N, F), signals (N, C, L)
and images (N, C, H, W); the input size comes from the data's facts
(``layers.flat_input_size``).

All three start from zero weights: the losses are convex in (w, b), so the
optimum does not depend on the start, and zero gives the "know nothing"
prediction (the mean target, p = 1/2, uniform class probabilities).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models.layers import flat_input_size

ImageSize = int | Sequence[int] | None


class LinearRegression(nn.Module):
    """y_hat = X w + b for ``num_outputs`` targets at once; returns (N,) when there is one target."""

    def __init__(self, num_features: int | None = None, num_outputs: int = 1, in_channels: int | None = None,
                 image_size: ImageSize = None, seq_len: int | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(flat_input_size(num_features, in_channels, image_size, seq_len), num_outputs)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y_hat = self.linear(x.flatten(1))
        return y_hat.squeeze(-1) if y_hat.shape[-1] == 1 else y_hat


class LogisticRegression(nn.Module):
    """The log-odds z = x^T w + b of the positive class, shape (N,); sigma(z) is its probability."""

    def __init__(self, num_features: int | None = None, in_channels: int | None = None,
                 image_size: ImageSize = None, seq_len: int | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(flat_input_size(num_features, in_channels, image_size, seq_len), 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)).squeeze(-1)


class SoftmaxRegression(nn.Module):
    """Logits W x + b of ``num_classes`` classes for flattened examples (N, ...) -> (N, K)."""

    def __init__(self, num_classes: int = 10, in_channels: int | None = 1, image_size: ImageSize = 8,
                 num_features: int | None = None, seq_len: int | None = None) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.head = nn.Linear(flat_input_size(num_features, in_channels, image_size, seq_len), num_classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flatten(x))
