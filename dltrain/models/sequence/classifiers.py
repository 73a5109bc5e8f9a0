"""Sequence classifiers: an LSTM baseline, and BERT fine-tuning on the [CLS] state (Devlin et al. 2018).

Both map padded token ids (B, T) to class logits (B, num_classes); padding
(``pad_id``, the data's) is recognised from the ids.

* ``LSTMClassifier``: embeddings -> bidirectional LSTM -> the final forward
  and backward states, concatenated -> linear head. Everything is learned from
  the labelled examples alone.
* ``BERTClassifier``: the BERT encoder (``bert.BERTEncoder``) reads
  ``[CLS] text [SEP]``; the final state of ``[CLS]``, which attends to every
  token, goes through dropout and a linear head. ``model.init_from`` names a
  BERT pre-training checkpoint: the run builder loads its ``encoder.*`` weights
  into the encoder (``pretrained_part``; the MLM / NSP heads are dropped), so
  fine-tuning starts from what pre-training learned. The encoder options must
  match the pre-trained model's.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from dltrain.models.sequence.bert import BERTEncoder, bert_init
from dltrain.models.transfer import PretrainedPart


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int = 64, hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.1, pad_id: int = 0) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, bidirectional=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = (ids != self.pad_id).sum(dim=1).clamp(min=1).cpu()
        # packed: the backward LSTM starts at each text's real last token, not in the padding
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)
        summary = torch.cat([hidden[-2], hidden[-1]], dim=1)  # top layer: forward end, backward end
        return self.head(self.dropout(summary))


class BERTClassifier(nn.Module):
    # model.init_from: the encoder of a BERT pre-training run (bert.BERT keeps it as ``encoder``)
    pretrained_part = PretrainedPart("encoder", "BERT encoder", "`dltrain model=bert data=nsp_corpus`",
                                     "d_model / num_layers / num_heads / d_ff / max_len and vocabulary")

    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 128, num_heads: int = 4,
                 d_ff: int = 512, num_layers: int = 2, dropout: float = 0.1, max_len: int = 128,
                 pad_id: int = 0) -> None:
        super().__init__()
        self.encoder = BERTEncoder(vocab_size, d_model, num_heads, d_ff, num_layers, dropout, max_len, pad_id)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, num_classes)
        bert_init(self.head)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(ids, torch.zeros_like(ids))  # a single text is all segment A
        return self.head(self.dropout(hidden[:, 0]))
