"""A message-passing GNN with node, edge and global features: the graph-network block
(Battaglia et al., "Relational inductive biases, deep learning, and graph networks", 2018).

A graph is a triple G = (u, V, E): a global feature ``u`` (the notes' "global
feature U"), node features ``v_i`` and edge features ``e_k`` with a sender
``s_k`` and a receiver ``r_k``. One GN block updates all three, in this order
(Algorithm 1 of the paper):

    edge update    e_k' = φ^e(e_k, v_{r_k}, v_{s_k}, u)
    node update    ē_i' = ρ^{e→v}({e_k' : r_k = i})         # messages into node i
                   v_i' = φ^v(ē_i', v_i, u)
    global update  ē'   = ρ^{e→u}(E'),  v̄' = ρ^{v→u}(V')     # pool the whole graph
                   u'   = φ^u(ē', v̄', u)

The φ are small MLPs on the concatenated inputs, the ρ are permutation
invariant pooling functions (sum, mean or max). GCN, GraphSAGE and GIN are
special cases (no edge or global state, particular φ and ρ); the MPNN of
Gilmer et al. (2017) is this block without the global update in the layers.

In a batch of graphs ``u`` has one row per graph and each edge and node reads
the ``u`` of its own graph (``u[batch]``). Graphs without edge features start
with empty (zero-width) edge states and graphs start with an empty ``u``, so
the first block's φ simply see fewer inputs. Node outputs read ``v``, graph
outputs read ``u``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models.graph import SCATTER, check_readout, gather, global_pool


def phi(in_features: int, out_features: int) -> nn.Sequential:
    """An update function φ: a two-layer MLP on the concatenated inputs."""
    return nn.Sequential(nn.Linear(in_features, out_features), nn.ReLU(),
                         nn.Linear(out_features, out_features), nn.ReLU())


class GraphNetworkBlock(nn.Module):
    """One GN block: edge update, node update, global update (full GN block of Battaglia et al.)."""

    def __init__(self, edge_size: int, node_size: int, global_size: int, hidden_size: int,
                 aggregation: str = "sum", pooling: str = "mean") -> None:
        super().__init__()
        self.aggregation, self.pooling = aggregation, pooling
        self.phi_e = phi(edge_size + 2 * node_size + global_size, hidden_size)
        self.phi_v = phi(hidden_size + node_size + global_size, hidden_size)
        self.phi_u = phi(2 * hidden_size + global_size, hidden_size)

    def forward(self, e: torch.Tensor, v: torch.Tensor, u: torch.Tensor, edge_index: torch.Tensor,
                batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        sender, receiver = edge_index
        edge_graph = batch[sender]  # the graph each edge belongs to
        e = self.phi_e(torch.cat([e, gather(v, receiver), gather(v, sender), gather(u, edge_graph)], dim=1))
        incoming = SCATTER[self.aggregation](e, receiver, v.shape[0])  # ρ^{e→v}
        v = self.phi_v(torch.cat([incoming, v, gather(u, batch)], dim=1))
        num_graphs = u.shape[0]
        e_bar = global_pool(e, edge_graph, num_graphs, self.pooling)  # ρ^{e→u}
        v_bar = global_pool(v, batch, num_graphs, self.pooling)  # ρ^{v→u}
        u = self.phi_u(torch.cat([e_bar, v_bar, u], dim=1))
        return e, v, u


class MPNN(nn.Module):
    """Encode, then ``num_layers`` GN blocks, then a linear head on the nodes (node logits) or on ``u``.

    ``readout`` (sum / mean / max) pools edges and nodes into ``u`` and makes the
    output one row per graph; ``readout=null`` gives node outputs (the global
    state still exists, pooled by ``aggregation``).
    """

    uses_edge_attr = True  # the task passes edge features (e.g. bond types) when the data has them

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        num_edge_features: int = 0,
        hidden_size: int = 64,
        num_layers: int = 3,
        dropout: float = 0.0,
        aggregation: str = "sum",
        readout: str | None = "mean",
    ) -> None:
        super().__init__()
        check_readout(readout)
        check_readout(aggregation, "aggregation")
        self.readout, self.dropout, self.num_edge_features = readout, dropout, num_edge_features
        self.node_encoder = nn.Linear(num_features, hidden_size)
        edge_size = hidden_size if num_edge_features else 0
        self.edge_encoder = nn.Linear(num_edge_features, hidden_size) if num_edge_features else None
        pooling = readout or aggregation
        self.blocks = nn.ModuleList(
            GraphNetworkBlock(edge_size if i == 0 else hidden_size, hidden_size, 0 if i == 0 else hidden_size,
                              hidden_size, aggregation, pooling)
            for i in range(num_layers)
        )
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        batch: torch.Tensor | None = None,
        num_graphs: int = 1,
        edge_attr: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if batch is None:
            batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        v = F.relu(self.node_encoder(x))
        if self.edge_encoder is not None:
            e = F.relu(self.edge_encoder(edge_attr.to(v.dtype)))
        else:  # no edge features: zero-width edge states
            e = v.new_zeros(edge_index.shape[1], 0)
        u = v.new_zeros(num_graphs, 0)  # no global input: a zero-width u
        for block in self.blocks:
            e, v, u = block(e, F.dropout(v, self.dropout, self.training), u, edge_index, batch)
        return self.head(v if self.readout is None else u)
