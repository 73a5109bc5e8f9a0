"""The Transformer, Vaswani et al., "Attention Is All You Need", 2017, and its decoder-only language model.

No recurrence: every layer lets each position look at every other through
multi-head attention (``attention.py``), followed by a position-wise
feed-forward network. Each sub-layer is wrapped in a residual connection and
layer normalisation, the paper's "Add & Norm":

    x = LayerNorm(x + Dropout(Sublayer(x)))

Encoder layer:  self-attention -> Add&Norm -> FFN -> Add&Norm
Decoder layer:  masked self-attention (no peeking at later target tokens)
                -> Add&Norm -> cross-attention (queries from the decoder,
                keys / values from the encoder output) -> Add&Norm -> FFN -> Add&Norm

    FFN(x) = max(0, x W_1 + b_1) W_2 + b_2          (d_model -> d_ff -> d_model)

Token embeddings are multiplied by sqrt(d_model) (so they are not drowned by
the position encodings) and get sinusoidal positions added.

A decoder-only language model (the GPT recipe) is the encoder stack with the
causal mask: position t attends to tokens <= t and predicts token t + 1.

Sequence-to-sequence interface shared with ``seq2seq.py`` (what the
translation task uses): ``encode(src, src_mask) -> memory`` (a dict of
batch-first tensors), ``decode(tgt_in, memory, need_weights) -> (logits,
cross-attention weights or None)``, and ``forward(src, src_mask, tgt_in) ->
logits`` for teacher forcing.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from dltrain.models.sequence.attention import MultiHeadAttention, SinusoidalPositionalEncoding


class PositionwiseFeedForward(nn.Sequential):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2, the same two-layer MLP at every position."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))


class AddNorm(nn.Module):
    """LayerNorm(x + Dropout(sublayer_output)): the residual keeps gradients flowing through deep stacks."""

    def __init__(self, d_model: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, sublayer_output: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.dropout(sublayer_output))


class EncoderBlock(nn.Module):
    """Self-attention -> Add&Norm -> FFN -> Add&Norm."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.add_norm1 = AddNorm(d_model, dropout)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout)
        self.add_norm2 = AddNorm(d_model, dropout)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
        attended, _ = self.self_attention(x, x, x, padding_mask, causal)
        x = self.add_norm1(x, attended)
        return self.add_norm2(x, self.ffn(x))


class TransformerEncoder(nn.Module):
    """A stack of encoder blocks on already embedded (B, T, d_model) inputs."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, num_layers: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(EncoderBlock(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, padding_mask, causal)
        return x


class DecoderBlock(nn.Module):
    """Masked self-attention -> Add&Norm -> cross-attention over the encoder output -> Add&Norm -> FFN -> Add&Norm."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.add_norm1 = AddNorm(d_model, dropout)
        self.cross_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.add_norm2 = AddNorm(d_model, dropout)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout)
        self.add_norm3 = AddNorm(d_model, dropout)

    def forward(
        self, y: torch.Tensor, target_mask: torch.Tensor | None, memory: torch.Tensor, memory_mask: torch.Tensor,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, _ = self.self_attention(y, y, y, target_mask, causal=True)
        y = self.add_norm1(y, attended)
        attended, weights = self.cross_attention(y, memory, memory, memory_mask, need_weights=need_weights)
        y = self.add_norm2(y, attended)
        return self.add_norm3(y, self.ffn(y)), weights


class TokenEmbedding(nn.Module):
    """Embedding(token) * sqrt(d_model) + PE(position), then dropout."""

    def __init__(self, vocab_size: int, d_model: int, dropout: float, max_len: int, pad_id: int | None = None) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.positions = SinusoidalPositionalEncoding(d_model, dropout, max_len)
        self.scale = math.sqrt(d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.positions(self.embedding(tokens) * self.scale)


def xavier_init(module: nn.Module) -> None:
    """Glorot-uniform matrices, as the reference implementations do; biases and norms keep their defaults."""
    for parameter in module.parameters():
        if parameter.dim() > 1:
            nn.init.xavier_uniform_(parameter)


class Transformer(nn.Module):
    """Encoder-decoder Transformer for sequence-to-sequence tasks (translation)."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 128,
        num_heads: int = 4,
        d_ff: int = 256,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        dropout: float = 0.1,
        max_len: int = 512,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.source_embedding = TokenEmbedding(vocab_size, d_model, dropout, max_len, pad_id)
        self.encoder = TransformerEncoder(d_model, num_heads, d_ff, num_encoder_layers, dropout)
        self.target_embedding = TokenEmbedding(vocab_size, d_model, dropout, max_len, pad_id)
        self.decoder = nn.ModuleList(DecoderBlock(d_model, num_heads, d_ff, dropout) for _ in range(num_decoder_layers))
        self.generator = nn.Linear(d_model, vocab_size)  # decoder state -> next-token logits
        xavier_init(self)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"memory": self.encoder(self.source_embedding(src), src_mask), "src_mask": src_mask}

    def decode(
        self, tgt_in: torch.Tensor, memory: dict[str, torch.Tensor], need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V) for every target position; the last layer's cross-attention (B, T, S), heads averaged."""
        y = self.target_embedding(tgt_in)
        target_mask = tgt_in != self.pad_id
        weights = None
        for index, block in enumerate(self.decoder):
            last = index == len(self.decoder) - 1
            y, weights = block(y, target_mask, memory["memory"], memory["src_mask"], need_weights and last)
        return self.generator(y), None if weights is None else weights.mean(dim=1)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.decode(tgt_in, self.encode(src, src_mask))[0]


class TransformerLM(nn.Module):
    """Decoder-only Transformer language model: causal self-attention blocks, (B, T) ids -> (B, T, V) logits."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 128,
        num_heads: int = 4,
        d_ff: int = 512,
        num_layers: int = 2,
        dropout: float = 0.1,
        max_len: int = 1024,
    ) -> None:
        super().__init__()
        self.embedding = TokenEmbedding(vocab_size, d_model, dropout, max_len)
        self.decoder = TransformerEncoder(d_model, num_heads, d_ff, num_layers, dropout)
        self.generator = nn.Linear(d_model, vocab_size)
        xavier_init(self)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # the causal mask alone: a language model's windows are full-length, padding-free text
        return self.generator(self.decoder(self.embedding(tokens), causal=True))
