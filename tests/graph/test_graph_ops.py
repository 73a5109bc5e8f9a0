"""The pieces under the graph models: GCN normalisation, pooling, batching, edge splits, ROC-AUC."""
from __future__ import annotations

import math

import pytest
import torch
from sklearn.metrics import roc_auc_score

from dltrain.data.graph.base import collate_graphs, random_node_split, split_edges, to_undirected
from dltrain.models.graph import global_pool, scatter_max, scatter_mean
from dltrain.models.graph.gcn import GraphConvolution, gcn_norm
from dltrain.tasks.graph import first_graph
from dltrain.tasks.graph_link import roc_auc

# the path 0 - 1 - 2 - 3, each edge in both directions
PATH = to_undirected(torch.tensor([[0, 1, 2], [1, 2, 3]]), 4)


def dense(edge_index: torch.Tensor, weight: torch.Tensor, n: int) -> torch.Tensor:
    matrix = torch.zeros(n, n)
    matrix.index_put_((edge_index[1], edge_index[0]), weight, accumulate=True)
    return matrix


def test_gcn_norm_is_the_renormalised_adjacency_by_hand():
    # Ã = A + I has degrees d̃ = (2, 3, 3, 2); Â_ij = 1 / sqrt(d̃_i d̃_j) on edges and the diagonal
    s6 = 1 / math.sqrt(6)
    expected = torch.tensor([
        [1 / 2, s6, 0, 0],
        [s6, 1 / 3, 1 / 3, 0],
        [0, 1 / 3, 1 / 3, s6],
        [0, 0, s6, 1 / 2],
    ])
    edge_index, weight = gcn_norm(PATH, 4)
    torch.testing.assert_close(dense(edge_index, weight, 4), expected)


def test_graph_convolution_computes_a_hat_x_w():
    layer = GraphConvolution(3, 2)
    x = torch.randn(4, 3)
    edge_index, weight = gcn_norm(PATH, 4)
    expected = dense(edge_index, weight, 4) @ x @ layer.linear.weight.t() + layer.bias
    torch.testing.assert_close(layer(x, edge_index, weight), expected)


def test_pooling_by_hand():
    x = torch.tensor([[1.0, -1.0], [3.0, 2.0], [5.0, 0.0], [-2.0, 4.0]])
    batch = torch.tensor([0, 0, 0, 1])
    torch.testing.assert_close(global_pool(x, batch, 2, "sum"), torch.tensor([[9.0, 1.0], [-2.0, 4.0]]))
    torch.testing.assert_close(global_pool(x, batch, 2, "mean"), torch.tensor([[3.0, 1 / 3], [-2.0, 4.0]]))
    torch.testing.assert_close(global_pool(x, batch, 2, "max"), torch.tensor([[5.0, 2.0], [-2.0, 4.0]]))
    torch.testing.assert_close(global_pool(x, None, 1, "sum"), x.sum(0, keepdim=True))


def test_empty_slots_are_zero_not_nan_or_minus_infinity():
    values, index = torch.tensor([[-3.0], [-1.0]]), torch.tensor([0, 0])
    assert scatter_max(values, index, 2).tolist() == [[-1.0], [0.0]]
    assert scatter_mean(values, index, 2).tolist() == [[-2.0], [0.0]]


def test_collate_offsets_edges_and_says_which_graph_each_node_is_in():
    triangle = {"x": torch.ones(3, 1), "edge_index": to_undirected(torch.tensor([[0, 1, 2], [1, 2, 0]]), 3),
                "y": torch.tensor([0])}
    pair = {"x": torch.full((2, 1), 2.0), "edge_index": torch.tensor([[0, 1], [1, 0]]), "y": torch.tensor([1])}
    batch = collate_graphs([triangle, pair])
    assert batch["batch"].tolist() == [0, 0, 0, 1, 1]
    assert batch["num_graphs"] == 2 and batch["y"].tolist() == [0, 1]
    assert batch["edge_index"][:, -2:].tolist() == [[3, 4], [4, 3]]  # the pair's nodes moved by 3
    assert batch["edge_index"].shape == (2, 8)
    single = first_graph(batch)
    torch.testing.assert_close(single["edge_index"], triangle["edge_index"])
    assert single["num_graphs"] == 1 and single["x"].shape == (3, 1)


def test_to_undirected_adds_reverse_edges_once_and_drops_self_loops():
    edges = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 2]])
    assert to_undirected(edges, 3).tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]


def test_edge_split_holds_out_edges_and_non_edges():
    n = 60
    edges = to_undirected(torch.randint(n, (2, 300), generator=torch.Generator().manual_seed(0)), n)
    split = split_edges(edges, n, 0.1, 0.2, torch.Generator().manual_seed(1))
    key = lambda pairs: set((pairs[0] * n + pairs[1]).tolist())  # noqa: E731
    every_edge = key(edges)
    train, val, test = key(split["train_pos"]), key(split["val_pos"]), key(split["test_pos"])
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == {k for k in every_edge if k // n < k % n}
    assert key(split["message_edge_index"]) == train | {(k % n) * n + k // n for k in train}  # both directions
    for name in ("val", "test"):
        negatives = split[f"{name}_neg"]
        assert negatives.shape == split[f"{name}_pos"].shape
        assert not key(negatives) & every_edge and (negatives[0] < negatives[1]).all()


def test_random_node_split_labels_k_nodes_per_class_and_partitions_the_rest():
    y = torch.arange(4).repeat_interleave(25)
    train, val, test = random_node_split(y, 5, 0.4, torch.Generator().manual_seed(0))
    assert torch.bincount(y[train]).tolist() == [5, 5, 5, 5]
    assert (train.int() + val.int() + test.int() == 1).all()
    assert val.sum() == 32


def test_roc_auc_matches_scikit_learn_with_ties():
    generator = torch.Generator().manual_seed(0)
    positive = torch.randint(0, 6, (50,), generator=generator).float()  # many ties
    negative = torch.randint(0, 5, (70,), generator=generator).float()
    expected = roc_auc_score([1] * 50 + [0] * 70, torch.cat([positive, negative]).numpy())
    assert roc_auc(positive, negative) == pytest.approx(expected)
    assert roc_auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert roc_auc(torch.tensor([1.0]), torch.tensor([1.0])) == 0.5
