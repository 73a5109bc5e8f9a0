"""Graph Isomorphism Network (Xu, Hu, Leskovec & Jegelka, ICLR 2019): as powerful as the WL test.

A message-passing GNN can tell two graphs apart at best as well as the
1-Weisfeiler-Lehman test, and only if its neighbourhood aggregation is
*injective* on multisets of neighbour features. Mean and max are not (a node
with neighbours {a, b} and one with {a, a, b, b} look the same to a mean);
a sum followed by an MLP is (the MLP approximates any function of the sum):

    h_v' = MLP((1 + ε) · h_v + Σ_{u in N(v)} h_u)

ε (learnable, or fixed at 0 with ``train_eps=false``) keeps the node's own
state distinguishable from its neighbours'. The graph embedding is a sum
readout of every layer, concatenated — early layers see small subtrees, late
layers large ones — and the paper's MLPs use batch normalisation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models.graph import check_readout, gather, global_pool, scatter_sum


def mlp(in_features: int, hidden_size: int) -> nn.Sequential:
    """The two-layer MLP of a GIN layer (with batch norm, as in the paper)."""
    return nn.Sequential(
        nn.Linear(in_features, hidden_size), nn.BatchNorm1d(hidden_size), nn.ReLU(),
        nn.Linear(hidden_size, hidden_size), nn.BatchNorm1d(hidden_size), nn.ReLU(),
    )


class GINConv(nn.Module):
    """``MLP((1 + ε) h_v + Σ_{u in N(v)} h_u)``."""

    def __init__(self, in_features: int, hidden_size: int, train_eps: bool = True) -> None:
        super().__init__()
        self.mlp = mlp(in_features, hidden_size)
        self.eps = nn.Parameter(torch.zeros(())) if train_eps else None

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        source, target = edge_index
        neighbours = scatter_sum(gather(h, source), target, h.shape[0])
        own = h if self.eps is None else (1 + self.eps) * h
        return self.mlp(own + neighbours)


class GIN(nn.Module):
    """Stacked GIN layers; node logits, or graph logits from the concatenated per-layer readouts."""

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        hidden_size: int = 64,
        num_layers: int = 3,
        dropout: float = 0.5,
        readout: str | None = "sum",
        train_eps: bool = True,
    ) -> None:
        super().__init__()
        check_readout(readout)
        self.readout, self.dropout = readout, dropout
        sizes = [num_features] + [hidden_size] * num_layers
        self.layers = nn.ModuleList(GINConv(i, o, train_eps) for i, o in zip(sizes[:-1], sizes[1:]))
        # graph outputs read every layer (including the input features), as the paper's Eq. 4.2
        head_inputs = sum(sizes) if readout else hidden_size
        self.head = nn.Linear(head_inputs, num_classes)

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor | None = None, num_graphs: int = 1
    ) -> torch.Tensor:
        states = [x]
        for layer in self.layers:
            states.append(layer(states[-1], edge_index))
        if self.readout is None:
            return self.head(F.dropout(states[-1], self.dropout, self.training))
        graph = torch.cat([global_pool(h, batch, num_graphs, self.readout) for h in states], dim=1)
        return self.head(F.dropout(graph, self.dropout, self.training))
