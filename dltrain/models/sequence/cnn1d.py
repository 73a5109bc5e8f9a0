"""A small 1-D convolutional classifier for signals and texts (after Kim, 2014, "Convolutional Neural
Networks for Sentence Classification", and the 1-D CNNs of time-series classification).

A 1-D convolution slides a kernel of ``kernel_size`` steps along the sequence, so each output sees a
short window of neighbouring steps, with the same weights everywhere: a pattern is found wherever it
occurs. Each block is Conv1d -> BatchNorm -> ReLU, and between blocks max pooling halves the length, so
deeper blocks see wider windows. Global max pooling over time then keeps, per channel, the strongest
response anywhere in the sequence (Kim's choice: where a pattern is does not matter, whether it occurs
does), and a linear head turns that into class logits.

Inputs: token ids (B, T), embedded, or real-valued signals (B, C, L), read as C input channels; the input
layer follows the data's facts (``step_inputs.py``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models.sequence.step_inputs import as_channels, step_embedding


class CNN1dClassifier(nn.Module):
    def __init__(self, num_classes: int, vocab_size: int | None = None, in_channels: int | None = None,
                 channels: Sequence[int] = (64, 64, 128), kernel_size: int = 3, embed_dim: int = 64,
                 dropout: float = 0.1, pad_id: int = 0) -> None:
        super().__init__()
        self.embedding, width = step_embedding(vocab_size, in_channels, embed_dim, pad_id)
        layers: list[nn.Module] = []
        for block, out_channels in enumerate(channels):
            if block > 0:  # ceil_mode: a sequence of one step stays one step
                layers.append(nn.MaxPool1d(2, ceil_mode=True))
            layers += [nn.Conv1d(width, out_channels, kernel_size, padding=kernel_size // 2),
                       nn.BatchNorm1d(out_channels), nn.ReLU(inplace=True)]
            width = out_channels
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(as_channels(x, self.embedding))  # (B, channels[-1], T')
        return self.head(self.dropout(features.amax(dim=2)))     # global max pooling over time
