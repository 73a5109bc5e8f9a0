"""Linear, logistic and softmax regression: one affine layer each.

* Linear regression:   y_hat = X w + b, trained by minimising the squared error.
* Logistic regression: P(y=1 | x) = sigma(x^T w + b); the model returns the
  logit x^T w + b and the loss (BCE with logits) applies the sigmoid, because
  log(sigma(z)) computed in one step does not overflow.
* Softmax regression:  P(y=k | x) = softmax(W x + b)_k; the model returns the
  logits W x + b and cross-entropy applies the (log-)softmax.

All three start from zero weights: the losses are convex in (w, b), so the
optimum does not depend on the start, and zero gives the "know nothing"
prediction (the mean target, p = 1/2, uniform class probabilities).
"""
from __future__ import annotations

import torch
from torch import nn


class LinearRegression(nn.Module):
    """y_hat = X w + b for ``num_outputs`` targets at once; returns (N,) when there is one target."""

    def __init__(self, num_features: int, num_outputs: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(num_features, num_outputs)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y_hat = self.linear(x)
        return y_hat.squeeze(-1) if y_hat.shape[-1] == 1 else y_hat


class LogisticRegression(nn.Module):
    """The log-odds z = x^T w + b of the positive class, shape (N,); sigma(z) is its probability."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(num_features, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


class SoftmaxRegression(nn.Module):
    """Logits W x + b of ``num_classes`` classes for flattened images (N, C, H, W) -> (N, K)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 8) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.head = nn.Linear(in_channels * image_size * image_size, num_classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flatten(x))
