"""Sequence classifiers: recurrent (LSTM, GRU) baselines, and BERT fine-tuning on the [CLS] state (Devlin et al. 2018).

Each maps a sequence to class logits (B, num_classes).

* ``LSTMClassifier`` / ``GRUClassifier``: steps -> bidirectional LSTM (GRU) -> the final forward and
  backward states, concatenated -> linear head. A step is a token (text: token ids (B, T), embedded) or one
  time step of a signal (signals (B, C, L): its C values); the input layer follows the data's facts
  (``step_inputs.py``). Padded token ids are packed, so the backward direction starts at each text's real
  last token; padding (``pad_id``, the data's) is recognised from the ids. Everything is learned from the
  labelled examples alone.
* ``BERTClassifier``: the BERT encoder (``bert.BERTEncoder``) reads
  ``[CLS] text [SEP]``; the final state of ``[CLS]``, which attends to every
  token, goes through dropout and a linear head. ``model.init_from`` names a
  BERT pre-training checkpoint: the run builder loads its ``encoder.*`` weights
  into the encoder (``pretrained_part``; the MLM / NSP heads are dropped), so
  fine-tuning starts from what pre-training learned. The encoder options must
  match the pre-trained model's.

(This module was ``text_classifier.py`` until the classifiers took signals too; checkpoints that name the
old path load through dltrain/checkpoint/legacy.py.)
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from dltrain.models.sequence.bert import BERTEncoder, bert_init
from dltrain.models.sequence.rnn import TORCH_LAYERS
from dltrain.models.sequence.step_inputs import as_steps, step_embedding
from dltrain.models.transfer import PretrainedPart


class RecurrentClassifier(nn.Module):
    """Token ids (B, T) or signals (B, C, L) -> logits (B, num_classes), through the recurrent layer ``cell``."""

    cell = "lstm"

    def __init__(self, vocab_size: int | None, num_classes: int, embed_dim: int = 64, hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.1, pad_id: int = 0, in_channels: int | None = None,
                 bidirectional: bool = True) -> None:
        super().__init__()
        self.pad_id, self.bidirectional = pad_id, bidirectional
        self.embedding, step_size = step_embedding(vocab_size, in_channels, embed_dim, pad_id)
        recurrent = TORCH_LAYERS[self.cell](step_size, hidden_size, num_layers, batch_first=True,
                                            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.add_module(self.cell, recurrent)  # named after its cell (`lstm`): the weights' names say what they are
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear((2 if bidirectional else 1) * hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = as_steps(x, self.embedding)
        if self.embedding is not None:  # padded token ids: packed, each text ends at its real last token
            lengths = (x != self.pad_id).sum(dim=1).clamp(min=1).cpu()
            steps = pack_padded_sequence(steps, lengths, batch_first=True, enforce_sorted=False)
        _, state = getattr(self, self.cell)(steps)
        hidden = state[0] if self.cell == "lstm" else state  # an LSTM's state is (h, c): the memory stays inside
        # the top layer's final states: forward end (and backward end, which has read the sequence from the back)
        summary = torch.cat([hidden[-2], hidden[-1]], dim=1) if self.bidirectional else hidden[-1]
        return self.head(self.dropout(summary))


class LSTMClassifier(RecurrentClassifier):
    cell = "lstm"


class GRUClassifier(RecurrentClassifier):
    cell = "gru"


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
