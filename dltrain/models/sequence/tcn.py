"""Temporal convolutional network (Bai, Kolter & Koltun, 2018): convolutions instead of recurrence.

"An Empirical Evaluation of Generic Convolutional and Recurrent Networks for
Sequence Modeling" builds a sequence model from two ideas:

* **causal convolutions**: the output at time t sees inputs at times <= t only.
  A 1-D convolution padded on the *left* by ``(kernel_size - 1) * dilation``
  (and not on the right) does this, so no future leaks into the past;
* **dilated convolutions**: layer i skips ``2**i - 1`` inputs between taps, so
  the receptive field, ``1 + 2 * (kernel_size - 1) * (2**levels - 1)`` for two
  convolutions per block, grows exponentially with depth.

Each **residual block** is two [causal dilated conv -> weight norm -> ReLU ->
dropout] layers plus a skip connection (a 1x1 conv when the widths differ).
Unlike an RNN, every time step is computed in parallel.

``TCNLanguageModel`` predicts the next token at every step (the paper's character-level LM);
``TCNClassifier`` classifies a whole sequence from the TCN's output at its last step, which (causal)
has seen the sequence up to there, within the receptive field (the paper's sequential-MNIST set-up).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as apply_weight_norm

from dltrain.models.sequence.step_inputs import as_channels, step_embedding


class CausalConv1d(nn.Conv1d):
    """A dilated 1-D convolution padded on the left only: output t depends on inputs <= t."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_padding = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left_padding, 0)))


class TemporalBlock(nn.Module):
    """The paper's residual block: two causal dilated convolutions and a skip connection."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 dropout: float, weight_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for channels_in in (in_channels, out_channels):
            conv = CausalConv1d(channels_in, out_channels, kernel_size, dilation)
            nn.init.normal_(conv.weight, 0.0, 0.01)  # the paper's initialisation, N(0, 0.01)
            # weight norm (Salimans & Kingma, 2016) reparameterises w = g v / |v|: the paper's stabiliser
            layers += [apply_weight_norm(conv) if weight_norm else conv, nn.ReLU(), nn.Dropout(dropout)]
        self.net = nn.Sequential(*layers)
        self.downsample = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.net(x) + self.downsample(x))


class TCN(nn.Module):
    """A stack of temporal blocks with dilations 1, 2, 4, ...: (B, C_in, T) -> (B, channels[-1], T)."""

    def __init__(self, input_size: int, channels: Sequence[int], kernel_size: int = 3,
                 dropout: float = 0.1, weight_norm: bool = True) -> None:
        super().__init__()
        blocks = []
        for level, width in enumerate(channels):
            blocks.append(TemporalBlock(input_size if level == 0 else channels[level - 1], width,
                                        kernel_size, 2**level, dropout, weight_norm))
        self.blocks = nn.Sequential(*blocks)
        self.receptive_field = 1 + 2 * (kernel_size - 1) * (2 ** len(channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class TCNLanguageModel(nn.Module):
    """Token ids (B, T) -> next-token logits (B, T, vocab): embedding -> TCN -> linear (the paper's char LM)."""

    def __init__(self, vocab_size: int, embedding_dim: int = 64, channels: Sequence[int] = (128,) * 4,
                 kernel_size: int = 3, dropout: float = 0.1, weight_norm: bool = True) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.tcn = TCN(embedding_dim, list(channels), kernel_size, dropout, weight_norm)
        self.head = nn.Linear(channels[-1], vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids).transpose(1, 2)  # convolutions want (B, channels, T)
        return self.head(self.tcn(x).transpose(1, 2))


class TCNClassifier(nn.Module):
    """Token ids (B, T) or signals (B, C, L) -> logits (B, num_classes): input layer -> TCN -> the output at the
    last step (for padded token ids: at each text's real last token) -> linear."""

    def __init__(self, num_classes: int, vocab_size: int | None = None, in_channels: int | None = None,
                 embed_dim: int = 64, channels: Sequence[int] = (64,) * 3, kernel_size: int = 3,
                 dropout: float = 0.1, weight_norm: bool = True, pad_id: int = 0) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.embedding, step_size = step_embedding(vocab_size, in_channels, embed_dim, pad_id)
        self.tcn = TCN(step_size, list(channels), kernel_size, dropout, weight_norm)
        self.head = nn.Linear(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.tcn(as_channels(x, self.embedding))  # (B, channels[-1], T)
        if self.embedding is None:
            return self.head(features[:, :, -1])
        last = ((x != self.pad_id).sum(dim=1) - 1).clamp(min=0)  # right-padded: the last real token
        return self.head(features[torch.arange(len(x), device=x.device), :, last])
