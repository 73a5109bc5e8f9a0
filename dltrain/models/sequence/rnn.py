"""Recurrent networks: the plain RNN, the GRU and the LSTM, written out and cuDNN-backed.

A recurrent network reads a sequence one step at a time and carries a hidden
state ``h_t`` that summarises everything seen so far:

    RNN   h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)
    GRU   (Cho et al., 2014) gates decide how much of h_{t-1} to keep (update gate z)
          and how much of it the candidate may use (reset gate r)
    LSTM  (Hochreiter & Schmidhuber, 1997) a memory cell c_t, written through an
          input gate, kept through a forget gate, read through an output gate

Each cell exists twice behind one switch, ``implementation``:

* ``scratch``: the cell as the notes write it (``RNNCell``, ``GRUCell``, ``LSTMCell``
  below), unrolled by a Python loop over time. Slow, but every formula is visible.
* ``torch``: ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``, fused kernels (cuDNN on a GPU).

The scratch RNN and LSTM compute exactly what PyTorch's do given the same
weights (the tests copy them across). The scratch GRU follows the paper, where
the reset gate acts on ``h_{t-1}`` *before* the matrix product; PyTorch's
cuDNN-style GRU applies it after, so those two differ slightly.

Deep (``num_layers``: layer l reads the outputs of layer l-1) and bidirectional
(a second network reads the sequence backwards; outputs are concatenated)
variants exist for all three. A bidirectional network sees the *future* of
every position, so it suits classification, tagging and encoding a window of
the past (``RNNRegressor``), never next-token language modelling, which
``RNNLanguageModel`` therefore refuses.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from dltrain.errors import UserError

CELLS = ("rnn", "gru", "lstm")
IMPLEMENTATIONS = ("scratch", "torch")

# the state a cell carries: h for RNN / GRU, (h, c) for the LSTM
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _weight(rows: int, columns: int, bound: float) -> nn.Parameter:
    # PyTorch's recurrent layers initialise every weight U(-1/sqrt(H), 1/sqrt(H)); we do the same
    return nn.Parameter(torch.empty(rows, columns).uniform_(-bound, bound))


def _bias(size: int, bound: float) -> nn.Parameter:
    return nn.Parameter(torch.empty(size).uniform_(-bound, bound))


class RNNCell(nn.Module):
    """h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        bound = 1 / math.sqrt(hidden_size)
        self.W_xh = _weight(hidden_size, input_size, bound)
        self.W_hh = _weight(hidden_size, hidden_size, bound)
        self.b_h = _bias(hidden_size, bound)

    def initial_state(self, batch_size: int, like: torch.Tensor) -> State:
        return like.new_zeros(batch_size, self.hidden_size)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, State]:
        h = torch.tanh(x @ self.W_xh.T + h @ self.W_hh.T + self.b_h)
        return h, h


class GRUCell(nn.Module):
    """Gated recurrent unit (Cho et al., 2014), as in the notes:

        r_t = sigmoid(W_xr x_t + W_hr h_{t-1} + b_r)          reset gate
        z_t = sigmoid(W_xz x_t + W_hz h_{t-1} + b_z)          update gate
        h~_t = tanh(W_xh x_t + W_hh (r_t * h_{t-1}) + b_h)     candidate state
        h_t = z_t * h_{t-1} + (1 - z_t) * h~_t
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        bound = 1 / math.sqrt(hidden_size)
        self.W_xr, self.W_hr, self.b_r = (_weight(hidden_size, input_size, bound),
                                          _weight(hidden_size, hidden_size, bound), _bias(hidden_size, bound))
        self.W_xz, self.W_hz, self.b_z = (_weight(hidden_size, input_size, bound),
                                          _weight(hidden_size, hidden_size, bound), _bias(hidden_size, bound))
        self.W_xh, self.W_hh, self.b_h = (_weight(hidden_size, input_size, bound),
                                          _weight(hidden_size, hidden_size, bound), _bias(hidden_size, bound))

    def initial_state(self, batch_size: int, like: torch.Tensor) -> State:
        return like.new_zeros(batch_size, self.hidden_size)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, State]:
        r = torch.sigmoid(x @ self.W_xr.T + h @ self.W_hr.T + self.b_r)
        z = torch.sigmoid(x @ self.W_xz.T + h @ self.W_hz.T + self.b_z)
        h_candidate = torch.tanh(x @ self.W_xh.T + (r * h) @ self.W_hh.T + self.b_h)
        h = z * h + (1 - z) * h_candidate  # z near 1: keep the old state, skipping this step
        return h, h


class LSTMCell(nn.Module):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997; forget gate: Gers et al., 2000):

        i_t = sigmoid(W_xi x_t + W_hi h_{t-1} + b_i)      input gate
        f_t = sigmoid(W_xf x_t + W_hf h_{t-1} + b_f)      forget gate
        o_t = sigmoid(W_xo x_t + W_ho h_{t-1} + b_o)      output gate
        c~_t = tanh(W_xc x_t + W_hc h_{t-1} + b_c)        candidate memory
        c_t = f_t * c_{t-1} + i_t * c~_t                  memory cell
        h_t = o_t * tanh(c_t)                             hidden state
    """

    GATES = ("i", "f", "c", "o")  # PyTorch's order of the four blocks in weight_ih / weight_hh

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        bound = 1 / math.sqrt(hidden_size)
        for gate in self.GATES:
            setattr(self, f"W_x{gate}", _weight(hidden_size, input_size, bound))
            setattr(self, f"W_h{gate}", _weight(hidden_size, hidden_size, bound))
            setattr(self, f"b_{gate}", _bias(hidden_size, bound))

    def initial_state(self, batch_size: int, like: torch.Tensor) -> State:
        zeros = like.new_zeros(batch_size, self.hidden_size)
        return zeros, zeros

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, State]:
        h, c = state
        i = torch.sigmoid(x @ self.W_xi.T + h @ self.W_hi.T + self.b_i)
        f = torch.sigmoid(x @ self.W_xf.T + h @ self.W_hf.T + self.b_f)
        o = torch.sigmoid(x @ self.W_xo.T + h @ self.W_ho.T + self.b_o)
        c_candidate = torch.tanh(x @ self.W_xc.T + h @ self.W_hc.T + self.b_c)
        # the additive memory update is why gradients survive many steps (no repeated squashing)
        c = f * c + i * c_candidate
        h = o * torch.tanh(c)
        return h, (h, c)


SCRATCH_CELLS = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}
TORCH_LAYERS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class ScratchRecurrent(nn.Module):
    """A (deep, bidirectional) recurrent layer built from scratch cells, unrolled over time.

    Same interface as ``nn.RNN(batch_first=True)``: (B, T, input_size) in,
    (B, T, directions * hidden_size) out, plus the final states of every
    layer and direction.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        directions = 2 if bidirectional else 1
        self.cells = nn.ModuleList()
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else directions * hidden_size
            for _ in range(directions):  # forward cell, then backward cell, per layer
                self.cells.append(SCRATCH_CELLS[cell](layer_input, hidden_size))
        self.num_layers, self.directions = num_layers, directions
        self.dropout = nn.Dropout(dropout)

    def _run(self, cell: nn.Module, x: torch.Tensor, reverse: bool) -> tuple[torch.Tensor, State]:
        state = cell.initial_state(x.shape[0], x)
        steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
        outputs: list[torch.Tensor] = [x] * x.shape[1]  # placeholders, each overwritten below
        for t in steps:
            outputs[t], state = cell(x[:, t], state)
        return torch.stack(outputs, dim=1), state

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[State]]:
        final_states = []
        for layer in range(self.num_layers):
            if layer > 0:  # dropout between layers, as nn.RNN does
                x = self.dropout(x)
            outputs = []
            for direction in range(self.directions):
                output, state = self._run(self.cells[layer * self.directions + direction], x, reverse=direction == 1)
                outputs.append(output)
                final_states.append(state)
            x = torch.cat(outputs, dim=-1)
        return x, final_states


class RecurrentNetwork(nn.Module):
    """``cell`` in rnn | gru | lstm, ``implementation`` in scratch | torch: (B, T, I) -> (B, T, D * H)."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, implementation: str = "torch") -> None:
        super().__init__()
        if cell not in CELLS:
            raise UserError(f"model.cell={cell} is not a recurrent cell; use one of {', '.join(CELLS)}.")
        if implementation not in IMPLEMENTATIONS:
            raise UserError(f"model.implementation={implementation} is unknown; use scratch or torch.")
        self.bidirectional = bidirectional
        self.output_size = (2 if bidirectional else 1) * hidden_size
        if implementation == "scratch":
            self.layers = ScratchRecurrent(cell, input_size, hidden_size, num_layers, bidirectional, dropout)
        else:
            self.layers = TORCH_LAYERS[cell](input_size, hidden_size, num_layers, batch_first=True,
                                             dropout=dropout if num_layers > 1 else 0.0,
                                             bidirectional=bidirectional)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)[0]


class RNNLanguageModel(nn.Module):
    """Token ids (B, T) -> next-token logits (B, T, vocab): embedding -> recurrent core -> linear.

    Position t's logits depend on tokens 0..t only, because the core reads left to right.
    """

    def __init__(self, vocab_size: int, cell: str = "lstm", implementation: str = "torch",
                 embedding_dim: int = 64, hidden_size: int = 256, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__()
        if bidirectional:
            raise UserError(
                "A bidirectional network sees the next tokens it is asked to predict, so it cannot be a "
                "language model; set model.bidirectional=false (bidirectional models suit tagging and classification)."
            )
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.core = RecurrentNetwork(cell, embedding_dim, hidden_size, num_layers, False, dropout, implementation)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.core(self.dropout(self.embedding(ids)))))


class RNNRegressor(nn.Module):
    """A window of the past (B, tau) -> the next value (B,): recurrent encoder -> linear.

    The whole window lies in the past, so a bidirectional encoder is safe here.
    The summary is the output at the last step of the forward direction and,
    when bidirectional, at the first step of the backward one (each has read
    the whole window).
    """

    def __init__(self, num_features: int, cell: str = "lstm", implementation: str = "torch",
                 hidden_size: int = 32, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        super().__init__()
        self.num_features = num_features
        self.core = RecurrentNetwork(cell, 1, hidden_size, num_layers, bidirectional, dropout, implementation)
        self.hidden_size = hidden_size
        self.head = nn.Linear(self.core.output_size, 1)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        outputs = self.core(window.unsqueeze(-1))  # each past value is a 1-feature step
        summary = outputs[:, -1, : self.hidden_size]
        if self.core.bidirectional:
            summary = torch.cat([summary, outputs[:, 0, self.hidden_size:]], dim=-1)
        return self.head(summary).squeeze(-1)
