"""The input layer of a sequence classifier, chosen by the data's facts.

A sequence classifier reads an example as T steps of D numbers each. What a step is depends on the data:

* text (``data.vocab_size`` stated): token ids (B, T); a step is a token, and its numbers are a learned
  embedding, ``nn.Embedding(vocab_size, embed_dim)``;
* signals (``data.in_channels`` stated, ``data=arrays`` with x of shape (N, C, L)): a step is one of the L
  time steps and its numbers are the C channel values, read as they are (a linear projection first would
  add nothing: the first recurrent or convolutional layer is already linear in its input).

So one model config serves both: ``vocab_size: ${oc.select:data.vocab_size,null}`` and
``in_channels: ${oc.select:data.in_channels,null}``.
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.errors import UserError


def step_embedding(vocab_size: int | None, in_channels: int | None, embed_dim: int,
                   pad_id: int = 0) -> tuple[nn.Embedding | None, int]:
    """The embedding of token ids (None for signals) and the size D of one step."""
    if vocab_size:
        return nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id), embed_dim
    if in_channels:
        return None, int(in_channels)
    raise UserError(
        "A sequence classifier reads token ids (data.vocab_size) or real-valued signals (data.in_channels), and "
        "the data states neither; use data=text_lines or data=story_sentiment for text, or data=arrays with x of "
        "shape (N, C, L) for signals."
    )


def as_steps(x: torch.Tensor, embedding: nn.Embedding | None) -> torch.Tensor:
    """(B, T, D): the embedded token ids (B, T), or the signals (B, C, L) with time first."""
    return embedding(x) if embedding is not None else x.transpose(1, 2)


def as_channels(x: torch.Tensor, embedding: nn.Embedding | None) -> torch.Tensor:
    """(B, D, T), the layout of 1-D convolutions: the embedded token ids, or the signals as they are."""
    return embedding(x).transpose(1, 2) if embedding is not None else x
