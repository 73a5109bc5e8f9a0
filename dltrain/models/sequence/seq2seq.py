"""RNN encoder-decoders: Sutskever et al. / Cho et al. 2014, and Bahdanau et al. 2015 additive attention.

Encoder-decoder (Cho et al. 2014, "Learning Phrase Representations using RNN
Encoder-Decoder"; Sutskever et al. 2014, "Sequence to Sequence Learning"). A
GRU reads the source; its last hidden state is the summary ``c`` of the
whole sentence. A second GRU writes the target one token at a time; as in
Cho et al., ``c`` starts its state (s_0 = tanh(W c)) and is fed again at every
step, next to the previous token:

    s_t = GRU([e(y_{t-1}); c], s_{t-1}),   p(y_t | y_<t, x) = softmax(W_o [s_t; e(y_{t-1}); c])

The fixed-size ``c`` is the bottleneck: long sentences do not fit in it.

Attention (Bahdanau et al. 2015, "Neural Machine Translation by Jointly
Learning to Align and Translate"). A bidirectional GRU gives one annotation
h_j per source token. Before each step the decoder scores every annotation
against its previous state with a one-hidden-layer network (additive
attention) and reads their weighted average:

    e_tj = v^T tanh(W s_{t-1} + U h_j),   alpha_tj = softmax_j(e_tj),   c_t = sum_j alpha_tj h_j
    s_t = GRU([e(y_{t-1}); c_t], s_{t-1}),   p(y_t | ...) = softmax(W_o [s_t; e(y_{t-1}); c_t])

The weights alpha are a soft alignment between target and source tokens;
``decode`` returns them (B, T, S), and the translation task draws them.

Both models share the interface of ``transformer.Transformer``: ``encode(src,
src_mask) -> memory`` (a dict of batch-first tensors), ``decode(tgt_in,
memory, need_weights) -> (logits (B, T, V), weights or None)``, and
``forward(src, src_mask, tgt_in) -> logits`` for teacher forcing.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Encoder(nn.Module):
    """Embedding + (bi)GRU over a padded batch; returns per-token annotations and the final states."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_layers: int, dropout: float,
                 bidirectional: bool, pad_id: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.rnn = nn.GRU(embed_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.num_layers, self.directions = num_layers, 2 if bidirectional else 1
        self.output_size = hidden_size * self.directions

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Annotations (B, S, H * dirs) and final states (layers, B, H * dirs) taken at each sentence's real end."""
        # packing makes the GRU stop at each sentence's last real token, so padding never enters the summary
        lengths = src_mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embedding(src), lengths, batch_first=True, enforce_sorted=False)
        outputs, final = self.rnn(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.shape[1])
        # (layers * dirs, B, H) -> (layers, B, dirs * H): forward and backward summaries side by side
        final = final.view(self.num_layers, self.directions, *final.shape[1:]).transpose(1, 2)
        return outputs, final.reshape(self.num_layers, final.shape[1], -1)


class Seq2Seq(nn.Module):
    """GRU encoder-decoder with the source summary ``c`` fed at every decoder step (Cho et al. 2014)."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden_size: int = 128, num_layers: int = 1,
                 dropout: float = 0.1, pad_id: int = 0) -> None:
        super().__init__()
        self.encoder = Encoder(vocab_size, embed_dim, hidden_size, num_layers, dropout, False, pad_id)
        context = self.encoder.output_size
        self.init_state = nn.Linear(context, hidden_size)  # s_0 = tanh(W c)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.decoder = nn.GRU(embed_dim + context, hidden_size, num_layers, batch_first=True,
                              dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size + embed_dim + context, vocab_size)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        _, final = self.encoder(src, src_mask)
        context = final[-1]  # c: the top layer's state after the last source token
        hidden = torch.tanh(self.init_state(final))  # one s_0 per decoder layer
        return {"context": context, "hidden": hidden.transpose(0, 1), "src_mask": src_mask}

    def decode(
        self, tgt_in: torch.Tensor, memory: dict[str, torch.Tensor], need_weights: bool = False
    ) -> tuple[torch.Tensor, None]:
        """Logits (B, T, V); a plain encoder-decoder has no attention weights to return."""
        embedded = self.dropout(self.embedding(tgt_in))
        context = memory["context"][:, None].expand(-1, tgt_in.shape[1], -1)  # the same c at every step
        states, _ = self.decoder(torch.cat([embedded, context], dim=-1), memory["hidden"].transpose(0, 1).contiguous())
        return self.output(self.dropout(torch.cat([states, embedded, context], dim=-1))), None

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.decode(tgt_in, self.encode(src, src_mask))[0]


class AdditiveAttention(nn.Module):
    """e_tj = v^T tanh(W s + U h_j); alpha = softmax over the real (unpadded) source tokens; c = sum alpha h."""

    def __init__(self, query_size: int, key_size: int, attention_size: int) -> None:
        super().__init__()
        self.W = nn.Linear(query_size, attention_size, bias=False)
        self.U = nn.Linear(key_size, attention_size, bias=False)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, projected_keys: torch.Tensor,
                key_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Q), keys (B, S, K), projected_keys = U keys (computed once per sentence); -> c (B, K), alpha (B, S)."""
        scores = self.v(torch.tanh(self.W(query)[:, None] + projected_keys)).squeeze(-1)
        alpha = scores.masked_fill(~key_mask, float("-inf")).softmax(dim=-1)
        return (alpha[:, :, None] * keys).sum(dim=1), alpha


class AttentionSeq2Seq(nn.Module):
    """Bidirectional-GRU encoder + GRU decoder with additive attention (Bahdanau et al. 2015)."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden_size: int = 128, num_layers: int = 1,
                 attention_size: int = 128, dropout: float = 0.1, pad_id: int = 0) -> None:
        super().__init__()
        self.encoder = Encoder(vocab_size, embed_dim, hidden_size, num_layers, dropout, True, pad_id)
        annotation = self.encoder.output_size
        self.init_state = nn.Linear(annotation, hidden_size)  # s_0 = tanh(W h_final)
        self.attention = AdditiveAttention(hidden_size, annotation, attention_size)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.decoder = nn.GRUCell(embed_dim + annotation, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size + embed_dim + annotation, vocab_size)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        annotations, final = self.encoder(src, src_mask)
        return {"annotations": annotations, "hidden": torch.tanh(self.init_state(final[-1])), "src_mask": src_mask}

    def decode(
        self, tgt_in: torch.Tensor, memory: dict[str, torch.Tensor], need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, T, V) and the alignment weights alpha (B, T, S) (always computed: they are the model)."""
        annotations, mask, state = memory["annotations"], memory["src_mask"], memory["hidden"]
        projected = self.attention.U(annotations)  # U h_j does not depend on the step: once per sentence
        embedded = self.dropout(self.embedding(tgt_in))
        features, weights = [], []
        for t in range(tgt_in.shape[1]):  # one step at a time: c_t depends on s_{t-1}
            context, alpha = self.attention(state, annotations, projected, mask)
            state = self.decoder(torch.cat([embedded[:, t], context], dim=-1), state)
            features.append(torch.cat([state, embedded[:, t], context], dim=-1))
            weights.append(alpha)
        logits = self.output(self.dropout(torch.stack(features, dim=1)))
        return logits, torch.stack(weights, dim=1)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.decode(tgt_in, self.encode(src, src_mask))[0]
