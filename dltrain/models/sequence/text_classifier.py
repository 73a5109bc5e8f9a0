"""Sequence classifiers: an LSTM baseline, and BERT fine-tuning on the [CLS] state (Devlin et al. 2018).

Both map padded token ids (B, T) to class logits (B, num_classes); padding
(id 0) is recognised from the ids.

* ``LSTMClassifier``: embeddings -> bidirectional LSTM -> the final forward
  and backward states, concatenated -> linear head. Everything is learned from
  the labelled examples alone.
* ``BERTClassifier``: the BERT encoder (``bert.BERTEncoder``) reads
  ``[CLS] text [SEP]``; the final state of ``[CLS]``, which attends to every
  token, goes through dropout and a linear head. ``init_from`` names a BERT
  pre-training checkpoint: its ``encoder.*`` weights initialise the encoder
  (the MLM / NSP heads are dropped), so fine-tuning starts from what
  pre-training learned. The encoder options must match the pre-trained model's.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from dltrain.data.text import PAD_ID
from dltrain.models import transfer
from dltrain.models.sequence.bert import BERTEncoder, bert_init

ENCODER_PREFIX = "encoder."  # where BERT (bert.BERT) keeps its encoder in a checkpoint's model weights


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int = 64, hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.1) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, bidirectional=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = (ids != PAD_ID).sum(dim=1).clamp(min=1).cpu()
        # packed: the backward LSTM starts at each text's real last token, not in the padding
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)
        summary = torch.cat([hidden[-2], hidden[-1]], dim=1)  # top layer: forward end, backward end
        return self.head(self.dropout(summary))


class BERTClassifier(nn.Module):
    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 128, num_heads: int = 4,
                 d_ff: int = 512, num_layers: int = 2, dropout: float = 0.1, max_len: int = 128,
                 init_from: str | None = None) -> None:
        super().__init__()
        self.encoder = BERTEncoder(vocab_size, d_model, num_heads, d_ff, num_layers, dropout, max_len)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, num_classes)
        bert_init(self.head)
        if init_from:
            self.load_encoder(init_from)

    def load_encoder(self, path: str | Path) -> None:
        """The encoder weights of a BERT pre-training checkpoint (``dltrain model=bert``)."""
        transfer.load_submodule_from_checkpoint(self.encoder, path, ENCODER_PREFIX, "BERT encoder",
                                                "`dltrain model=bert data=nsp_corpus`",
                                                "d_model / num_layers / num_heads / d_ff / max_len and vocabulary")

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(ids, torch.zeros_like(ids))  # a single text is all segment A
        return self.head(self.dropout(hidden[:, 0]))
