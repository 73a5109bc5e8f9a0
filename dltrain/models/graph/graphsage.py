"""GraphSAGE (Hamilton, Ying & Leskovec, NeurIPS 2017): sample and aggregate, inductively.

GCN learns with a fixed normalised adjacency and mixes a node with its
neighbours in one sum. GraphSAGE keeps the two apart (Algorithm 1 of the paper):

    h_N(v) = AGGREGATE({h_u : u in N(v)})          # here the mean aggregator
    h_v'   = σ(W · CONCAT(h_v, h_N(v)))            # "concat self": the node's own
    h_v'   = h_v' / ||h_v'||_2                     #   state is kept separate

Because the weights act on a node and on an aggregate of its neighbourhood,
not on a fixed graph, a trained model applies to nodes and graphs never seen
in training (inductive learning). The paper samples a fixed number of
neighbours per node to bound the cost on huge graphs; on the graphs here we
aggregate over all neighbours (the sparse scatter-mean already costs O(E)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models.graph import check_readout, gather, global_pool, scatter_mean


class SAGEConv(nn.Module):
    """``W · [h_v || mean_{u in N(v)} h_u]`` (activation and normalisation are applied by the network)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(2 * in_features, out_features)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        source, target = edge_index
        neighbourhood = scatter_mean(gather(h, source), target, h.shape[0])  # isolated nodes aggregate to 0
        return self.linear(torch.cat([h, neighbourhood], dim=1))


class GraphSAGE(nn.Module):
    """Stacked mean-aggregator layers; node logits, or graph logits with a ``readout`` (sum / mean / max)."""

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.5,
        readout: str | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        check_readout(readout)
        self.readout, self.dropout, self.normalize = readout, dropout, normalize
        sizes = [num_features] + [hidden_size] * num_layers
        if readout is None:  # node outputs: the last layer produces the logits
            sizes[-1] = num_classes
        self.layers = nn.ModuleList(SAGEConv(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(hidden_size, num_classes) if readout else None

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor | None = None, num_graphs: int = 1
    ) -> torch.Tensor:
        h = x
        for i, layer in enumerate(self.layers):
            h = layer(F.dropout(h, self.dropout, self.training), edge_index)
            if i < len(self.layers) - 1 or self.head is not None:
                h = F.relu(h)
                if self.normalize:  # the paper's per-layer L2 normalisation of the embeddings
                    h = F.normalize(h, dim=1)
        if self.head is None:
            return h
        return self.head(global_pool(h, batch, num_graphs, self.readout))
