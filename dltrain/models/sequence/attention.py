"""Attention, written out: scaled dot-product, multi-head, masks, sinusoidal positions (Vaswani et al. 2017).

Scaled dot-product attention compares every query with every key and
returns the values averaged by the resulting weights:

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

Dividing by sqrt(d_k) keeps the dot products' variance near 1 whatever the
width, so the softmax does not saturate. A boolean mask (True = may attend)
hides keys: padding (a query must not read the filler after a short
sentence) and the future (a decoder predicting token t must not see t+1...).
Hidden keys get a score of -inf, hence a weight of exactly 0.

Multi-head attention runs h attentions in parallel on d_model / h wide
projections, so different heads can look at different positions:

    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)
    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O

When nobody needs the weights, PyTorch's fused
``F.scaled_dot_product_attention`` computes the same thing faster and
without materialising the T x T matrix; when the weights are asked for (an
attention heat map, a test) the explicit softmax path below runs instead.
Attention ignores order, so the inputs get sinusoidal position encodings:

    PE(pos, 2i) = sin(pos / 10000^(2i / d_model)),  PE(pos, 2i+1) = cos(same)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.errors import UserError


def causal_mask(length: int, device: torch.device | None = None) -> torch.Tensor:
    """(T, T) bool, True on and below the diagonal: position t may attend to positions <= t."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def attention_mask(
    key_padding_mask: torch.Tensor | None, query_length: int, key_length: int, causal: bool,
    device: torch.device,
) -> torch.Tensor | None:
    """Combine padding and causal masks into one broadcastable (B or 1, 1, Tq, Tk) bool mask (True = attend).

    ``key_padding_mask`` is (B, Tk), True on real tokens (the convention of ``pad_batch``).
    """
    mask = None
    if key_padding_mask is not None:
        mask = key_padding_mask[:, None, None, :]  # every query and head sees the same keys
    if causal:
        # queries are the last Tq positions of the keys (Tq < Tk when decoding one step at a time)
        future = causal_mask(key_length, device)[key_length - query_length:]
        mask = future[None, None] if mask is None else mask & future
    return mask


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout: float = 0.0,
    need_weights: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """softmax(Q K^T / sqrt(d)) V on (..., T, d) tensors; returns (output, weights or None).

    ``mask`` broadcasts to (..., Tq, Tk), True where a query may attend to a key.
    """
    if not need_weights:  # the fused kernel: same result, no T x T matrix kept
        return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout), None
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return F.dropout(weights, dropout) @ value, weights


class MultiHeadAttention(nn.Module):
    """h heads of scaled dot-product attention on d_model / h wide projections, then W^O."""

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads:
            raise UserError(f"model.d_model={d_model} must be divisible by model.num_heads={num_heads}.")
        self.num_heads, self.head_dim, self.dropout = num_heads, d_model // num_heads, dropout
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> (B, h, T, d_model / h)."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Queries (B, Tq, D) attend over keys / values (B, Tk, D); weights (B, h, Tq, Tk) when asked for."""
        q, k, v = self.split_heads(self.w_q(query)), self.split_heads(self.w_k(key)), self.split_heads(self.w_v(value))
        mask = attention_mask(key_padding_mask, q.shape[2], k.shape[2], causal, query.device)
        out, weights = scaled_dot_product_attention(q, k, v, mask, self.dropout if self.training else 0.0,
                                                    need_weights)
        batch, _, length, _ = out.shape
        # concatenate the heads: (B, h, Tq, d_head) -> (B, Tq, h * d_head)
        return self.w_o(out.transpose(1, 2).reshape(batch, length, -1)), weights


class SinusoidalPositionalEncoding(nn.Module):
    """Adds PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...) to (B, T, d) inputs, then dropout.

    Fixed, not learned: each dimension is a sinusoid of a different wavelength
    (2 pi ... 10000 * 2 pi), so PE(pos + k) is a linear function of PE(pos) and
    relative offsets are easy to attend to.
    """

    def __init__(self, d_model: int, dropout: float = 0.0, max_len: int = 4096) -> None:
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float32)[:, None]
        frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_len, d_model)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency)[:, : d_model // 2]
        self.register_buffer("table", table, persistent=False)  # a function of the shape, not a weight
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.table.shape[0]:
            raise UserError(f"A sequence of {x.shape[1]} tokens is longer than the positional encoding's "
                            f"max_len={self.table.shape[0]}; raise model.max_len.")
        return self.dropout(x + self.table[: x.shape[1]])
