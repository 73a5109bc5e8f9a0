"""Recurrent networks: the from-scratch cells equal PyTorch's, every variant runs, the LM is causal."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from dltrain import api
from dltrain.errors import UserError
from dltrain.models.sequence.rnn import LSTMCell, RecurrentNetwork, RNNLanguageModel, RNNRegressor

LANGUAGE_MODELS = ["rnn", "rnn_scratch", "gru", "lstm", "lstm_scratch", "deep_lstm", "tcn"]
SERIES_MODELS = ["ar_mlp", "bilstm"]


def copy_torch_weights(torch_layer: nn.RNNBase, scratch: RecurrentNetwork) -> None:
    """nn.RNN / nn.LSTM weights into the scratch cells: same matrices, the two biases summed."""
    directions = 2 if torch_layer.bidirectional else 1
    for layer in range(torch_layer.num_layers):
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            w_ih, w_hh = getattr(torch_layer, "weight_ih" + suffix), getattr(torch_layer, "weight_hh" + suffix)
            bias = getattr(torch_layer, "bias_ih" + suffix) + getattr(torch_layer, "bias_hh" + suffix)
            cell = scratch.layers.cells[layer * directions + direction]
            if isinstance(cell, LSTMCell):  # PyTorch stacks the gates' blocks in the order i, f, g (= c), o
                for gate, x_block, h_block, b_block in zip(cell.GATES, w_ih.chunk(4), w_hh.chunk(4), bias.chunk(4)):
                    getattr(cell, f"W_x{gate}").copy_(x_block)
                    getattr(cell, f"W_h{gate}").copy_(h_block)
                    getattr(cell, f"b_{gate}").copy_(b_block)
            else:
                cell.W_xh.copy_(w_ih)
                cell.W_hh.copy_(w_hh)
                cell.b_h.copy_(bias)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, True)])
@torch.no_grad()
def test_scratch_cell_equals_torch_given_the_same_weights(cell, num_layers, bidirectional):
    torch.manual_seed(0)
    reference = RecurrentNetwork(cell, 5, 7, num_layers, bidirectional, implementation="torch")
    scratch = RecurrentNetwork(cell, 5, 7, num_layers, bidirectional, implementation="scratch")
    copy_torch_weights(reference.layers, scratch)
    x = torch.randn(3, 9, 5)
    expected = reference(x)
    assert expected.shape == (3, 9, 7 * (2 if bidirectional else 1))
    torch.testing.assert_close(scratch(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("implementation", ["scratch", "torch"])
def test_language_model_is_causal_and_trains(cell, implementation):
    torch.manual_seed(0)
    model = RNNLanguageModel(20, cell, implementation, embedding_dim=8, hidden_size=12, num_layers=2)
    ids = torch.randint(0, 20, (2, 10))
    logits = model(ids)
    assert logits.shape == (2, 10, 20)
    logits.logsumexp(-1).mean().backward()
    assert model.embedding.weight.grad.abs().sum() > 0  # gradients flow through the recurrence to the input
    changed = ids.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 20  # a different future
    with torch.no_grad():
        torch.testing.assert_close(model(changed)[:, :6], model(ids)[:, :6])


def test_language_model_refuses_bidirectional():
    with pytest.raises(UserError, match="bidirectional"):
        RNNLanguageModel(20, bidirectional=True)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_regressor_reads_a_window_into_one_value(bidirectional):
    model = RNNRegressor(num_features=4, cell="gru", implementation="scratch", hidden_size=6, bidirectional=bidirectional)
    assert model(torch.randn(5, 4)).shape == (5,)


@pytest.mark.parametrize("name", LANGUAGE_MODELS + SERIES_MODELS)
def test_model_config_builds_and_runs_forward_backward(name):
    cfg = api.compose([f"model={name}", "data=sine" if name in SERIES_MODELS else "data=python_chars"])
    model = instantiate(cfg.model)
    if name in SERIES_MODELS:
        assert cfg.task._target_.endswith("TimeSeriesTask")
        output = model(torch.randn(2, cfg.data.tau))
        assert output.shape == (2,)
    else:
        assert cfg.task._target_.endswith("LanguageModelTask")
        output = model(torch.randint(0, cfg.data.vocab_size, (2, 12)))
        assert output.shape == (2, 12, cfg.data.vocab_size)
    output.float().pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
