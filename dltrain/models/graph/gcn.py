"""Graph Convolutional Network (Kipf & Welling, ICLR 2017): spectral convolution made local and cheap.

From the Laplacian to the layer, as the notes derive it:

1. The normalised graph Laplacian ``L = I - D^-1/2 A D^-1/2 = U Λ U^T`` plays the
   role of the Fourier basis: a spectral filter on a node signal ``x`` is
   ``g_θ ⋆ x = U g_θ(Λ) U^T x`` — exact but O(N^2) and not local.
2. Approximate ``g_θ`` by a Chebyshev polynomial of ``L`` (Hammond et al.,
   Defferrard et al. 2016); a K-th order polynomial only mixes K-hop neighbours.
3. Keep K = 1 and ``λ_max ≈ 2``: ``g_θ ⋆ x ≈ θ0 x - θ1 D^-1/2 A D^-1/2 x``; with a
   single parameter ``θ = θ0 = -θ1`` this is ``θ (I + D^-1/2 A D^-1/2) x``.
4. ``I + D^-1/2 A D^-1/2`` has eigenvalues in [0, 2]: stacking layers repeats it
   and gradients explode or vanish. The *renormalisation trick* replaces it with
   ``Â = D̃^-1/2 Ã D̃^-1/2`` where ``Ã = A + I`` (self-loops) and ``D̃`` its degrees.

One layer is then ``H' = σ(Â H W)``: transform every node (``H W``), then take
the degree-normalised sum over each node's neighbours and itself. Â is never
built densely: its non-zeros are the edges plus self-loops, each weighted
``1 / sqrt(d̃_i d̃_j)`` (``gcn_norm``), and the product ``Â (H W)`` is a scatter-sum
over edges (see ``dltrain.models.graph``).

The paper's node classifier is two layers, ``Z = softmax(Â ReLU(Â X W0) W1)``,
with dropout on each layer's input. With a ``readout`` the same layers feed
a pooling step and a linear head: a graph classifier.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models.graph import check_readout, degree, gather, global_pool, scatter_sum


def add_self_loops(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Ã = A + I: an edge i -> i for every node."""
    loops = torch.arange(num_nodes, device=edge_index.device).expand(2, -1)
    return torch.cat([edge_index, loops], dim=1)


def gcn_norm(edge_index: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The non-zeros of Â = D̃^-1/2 (A + I) D̃^-1/2: edges with self-loops, and each one's weight."""
    edge_index = add_self_loops(edge_index, num_nodes)
    source, target = edge_index
    inv_sqrt_degree = degree(target, num_nodes).rsqrt()  # d̃ >= 1 thanks to the self-loop
    return edge_index, inv_sqrt_degree[source] * inv_sqrt_degree[target]


class GraphConvolution(nn.Module):
    """``H' = Â H W + b``: one GCN layer (the activation is applied by the network)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.xavier_uniform_(self.linear.weight)  # Glorot, as the paper

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        h = self.linear(h)  # transform first: fewer features travel along the edges
        source, target = edge_index
        messages = edge_weight.unsqueeze(1).to(h.dtype) * gather(h, source)
        return scatter_sum(messages, target, h.shape[0]) + self.bias


class GCN(nn.Module):
    """Stacked graph convolutions; node logits, or graph logits with a ``readout`` (sum / mean / max)."""

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.5,
        readout: str | None = None,
    ) -> None:
        super().__init__()
        check_readout(readout)
        self.readout, self.dropout = readout, dropout
        # node outputs: the last convolution produces the logits (the paper's Z); graph outputs: a linear head
        sizes = [num_features] + [hidden_size] * num_layers
        if readout is None:
            sizes[-1] = num_classes
        self.layers = nn.ModuleList(GraphConvolution(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(hidden_size, num_classes) if readout else None

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor | None = None, num_graphs: int = 1
    ) -> torch.Tensor:
        edge_index, edge_weight = gcn_norm(edge_index, x.shape[0])  # Â once, shared by every layer
        h = x
        for i, layer in enumerate(self.layers):
            h = layer(F.dropout(h, self.dropout, self.training), edge_index, edge_weight)
            if i < len(self.layers) - 1 or self.head is not None:
                h = F.relu(h)
        if self.head is None:
            return h
        return self.head(global_pool(h, batch, num_graphs, self.readout))
