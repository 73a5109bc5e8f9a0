"""BERT, Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding", 2018.

A Transformer *encoder* (``transformer.TransformerEncoder``: every token sees
the whole input, left and right) pre-trained on unlabelled text with two
self-supervised tasks, then fine-tuned on a labelled task:

* masked language modelling (MLM): 15% of the tokens are hidden and the
  model predicts them from both sides (the masking itself is done by the
  task, ``dltrain/tasks/bert_pretraining.py``);
* next-sentence prediction (NSP): the input is ``[CLS] A [SEP] B [SEP]`` and
  the final state of ``[CLS]`` says whether B followed A in the corpus.

Input representation: the sum of a token embedding, a segment embedding
(0 for A, 1 for B) and a *learned* position embedding, then LayerNorm and
dropout. The MLM head is Linear -> GELU -> LayerNorm followed by a decoder
whose weight is the token embedding matrix itself (weight tying: predicting
a token and reading it use the same vectors). The NSP head reads the
"pooled" ``[CLS]`` state, tanh(W h_[CLS]).

``BERTEncoder`` (embeddings + encoder stack) is what fine-tuning keeps:
``classifiers.BERTClassifier`` loads the ``encoder.*`` weights of a
pre-training checkpoint. Small defaults (d_model 128, 2 layers, 4 heads) so
pre-training runs on a CPU; BERT-Base is d_model 768, 12 layers, 12 heads.
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.models.sequence.transformer import TransformerEncoder

NUM_SEGMENTS = 2


class BERTEmbeddings(nn.Module):
    """token + segment + learned position embeddings, LayerNorm, dropout."""

    def __init__(self, vocab_size: int, d_model: int, max_len: int, dropout: float, pad_id: int) -> None:
        super().__init__()
        self.token = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.segment = nn.Embedding(NUM_SEGMENTS, d_model)
        self.position = nn.Embedding(max_len, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.token(ids) + self.position(positions)[None]
        if segments is not None:
            x = x + self.segment(segments)
        return self.dropout(self.norm(x))


class BERTEncoder(nn.Module):
    """Embeddings + bidirectional Transformer encoder: (B, T) ids -> (B, T, d_model) contextual states."""

    def __init__(self, vocab_size: int, d_model: int = 128, num_heads: int = 4, d_ff: int = 512,
                 num_layers: int = 2, dropout: float = 0.1, max_len: int = 128, pad_id: int = 0) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.embeddings = BERTEmbeddings(vocab_size, d_model, max_len, dropout, pad_id)
        self.encoder = TransformerEncoder(d_model, num_heads, d_ff, num_layers, dropout)
        self.apply(bert_init)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = ids != self.pad_id if mask is None else mask  # padding is never attended to
        return self.encoder(self.embeddings(ids, segments), mask)


def bert_init(module: nn.Module) -> None:
    """N(0, 0.02) weights, zero biases, as the reference implementation."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class MaskedLMHead(nn.Module):
    """Linear -> GELU -> LayerNorm, then logits over the vocabulary with the token embeddings as weights."""

    def __init__(self, token_embedding: nn.Embedding) -> None:
        super().__init__()
        vocab_size, d_model = token_embedding.weight.shape
        self.transform = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.LayerNorm(d_model))
        self.decoder = nn.Linear(d_model, vocab_size)
        self.decoder.weight = token_embedding.weight  # tied: one vector per token, to read and to predict
        self.apply(bert_init)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden))


class NextSentenceHead(nn.Module):
    """pooled = tanh(W h_[CLS]); two logits: B is (1) or is not (0) the sentence after A."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.pooler = nn.Sequential(nn.Linear(d_model, d_model), nn.Tanh())
        self.classifier = nn.Linear(d_model, 2)
        self.apply(bert_init)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pooler(hidden[:, 0]))


class BERT(nn.Module):
    """BERT for pre-training: ``forward(ids, segments, mask) -> (MLM logits (B, T, V), NSP logits (B, 2))``."""

    def __init__(self, vocab_size: int, d_model: int = 128, num_heads: int = 4, d_ff: int = 512,
                 num_layers: int = 2, dropout: float = 0.1, max_len: int = 128, pad_id: int = 0) -> None:
        super().__init__()
        self.encoder = BERTEncoder(vocab_size, d_model, num_heads, d_ff, num_layers, dropout, max_len, pad_id)
        self.mlm = MaskedLMHead(self.encoder.embeddings.token)
        self.nsp = NextSentenceHead(d_model)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(ids, segments, mask)
        return self.mlm(hidden), self.nsp(hidden)
