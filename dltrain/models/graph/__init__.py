"""Graph neural networks in plain PyTorch: GCN, a graph-network MPNN, GraphSAGE, GIN.

A graph is a node feature matrix ``x`` (N, F) and an ``edge_index`` (2, E)
of directed edges ``source -> target`` (an undirected edge is stored once in
each direction). Several small graphs are batched into one disconnected graph
with a ``batch`` vector (N,) that says which graph each node belongs to.

Sparse on purpose: a layer gathers the messages of all edges (``h[source]``)
and sums them into their target nodes with ``index_add_``. That costs
O(E * d) time and memory, where a dense adjacency matrix costs O(N^2): Cora's
2,708 nodes fit either way, PubMed's 19,717 only sparsely.

This module holds the pieces every layer shares: scatter reductions over
edges or nodes, and the pooling readouts (sum / mean / max over the nodes of
each graph) that turn node embeddings into one vector per graph.
"""
from __future__ import annotations

import torch

from dltrain.errors import UserError

READOUTS = ("sum", "mean", "max")


def gather(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[index]``: the rows of the nodes at one end of each edge (the messages' sources).

    ``index_select`` back-propagates with an ``index_add_``, several times faster
    on CPU than the accumulating ``index_put_`` that ``values[index]`` uses.
    """
    return values.index_select(0, index)


def scatter_sum(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """``out[i] = sum of values[j] with index[j] == i`` (rows with no entry are 0)."""
    out = values.new_zeros((size, *values.shape[1:]))
    return out.index_add_(0, index, values)


def scatter_mean(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Mean of the rows sent to each slot; empty slots get 0 (not NaN)."""
    count = torch.zeros(size, dtype=values.dtype, device=values.device).index_add_(
        0, index, torch.ones_like(index, dtype=values.dtype))
    return scatter_sum(values, index, size) / count.clamp(min=1).view(-1, *([1] * (values.dim() - 1)))


def scatter_max(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Element-wise max of the rows sent to each slot; empty slots get 0."""
    out = values.new_zeros((size, *values.shape[1:]))
    expanded = index.view(-1, *([1] * (values.dim() - 1))).expand_as(values)
    return out.scatter_reduce(0, expanded, values, reduce="amax", include_self=False)


SCATTER = {"sum": scatter_sum, "mean": scatter_mean, "max": scatter_max}


def global_pool(x: torch.Tensor, batch: torch.Tensor | None, num_graphs: int, how: str) -> torch.Tensor:
    """Readout: one vector per graph from its nodes' vectors (sum, mean or max), shape (num_graphs, d)."""
    if batch is None:  # one graph
        batch = x.new_zeros(x.shape[0], dtype=torch.long)
    return SCATTER[how](x, batch, num_graphs)


def degree(index: torch.Tensor, num_nodes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """How many edges end (or start) at each node, for ``index`` = targets (or sources)."""
    return torch.zeros(num_nodes, dtype=dtype, device=index.device).index_add_(
        0, index, torch.ones_like(index, dtype=dtype))


def check_readout(readout: str | None, key: str = "readout") -> None:
    """A pooling option must be sum, mean or max (``readout`` may be null: node outputs)."""
    if (readout is not None or key != "readout") and readout not in READOUTS:
        raise UserError(f"model.{key}={readout} is not one of {', '.join(READOUTS)}"
                        + (" (or null for node outputs)." if key == "readout" else "."))
