"""Offline graph data: Zachary's karate club, stochastic block models, cycles vs trees.

* Karate club (Zachary 1977, shipped by networkx): 34 members of a club that
  split in two; the label is the side each joined ('club'). Features are the
  identity (one-hot node id), so only the graph says who belongs together,
  and just ``train_per_class`` members per side are labelled.
* Stochastic block model: ``num_blocks`` blocks of ``block_size`` nodes; an
  edge inside a block appears with probability ``p_in``, across blocks with
  ``p_out``. The label is the block. Features are a noisy one-hot of the block
  (``features=noisy_onehot``: too noisy to classify a node alone, clean once
  averaged over its neighbours) or pure noise (``features=random``: only the
  structure carries the label). Seeded by ``seed``.
* Cycles vs trees: ``num_graphs`` small graphs, half of them cycles C_n and
  half random trees on n nodes (a random recursive tree: node i links to a
  uniformly chosen earlier node), n uniform in [min_nodes, max_nodes]. Every
  node has the same feature (1), so only the structure tells the classes
  apart (a tree has leaves, a cycle none). Seeded by ``seed``.
"""
from __future__ import annotations

import networkx as nx
import torch
import torch.nn.functional as F

from dltrain.data.graph.base import Graph, GraphClassificationData, NodeGraphData, random_node_split, to_undirected
from dltrain.errors import UserError


class KarateClubData(NodeGraphData):
    def __init__(self, train_per_class: int = 2, val_fraction: float = 0.5, **options) -> None:
        super().__init__(**options)
        self.train_per_class, self.val_fraction = train_per_class, val_fraction

    def load(self) -> tuple[Graph, tuple[torch.Tensor, ...]]:
        club = nx.karate_club_graph()
        n = club.number_of_nodes()
        edges = torch.tensor(list(club.edges()), dtype=torch.long).t()
        y = torch.tensor([int(club.nodes[i]["club"] == "Officer") for i in range(n)])
        graph = {"x": torch.eye(n), "edge_index": to_undirected(edges, n), "y": y}
        masks = random_node_split(y, self.train_per_class, self.val_fraction, torch.Generator().manual_seed(self.seed))
        return graph, masks


class SBMData(NodeGraphData):
    def __init__(self, num_blocks: int = 4, block_size: int = 100, p_in: float = 0.1, p_out: float = 0.01,
                 features: str = "noisy_onehot", feature_noise: float = 1.0, train_per_class: int = 20,
                 val_fraction: float = 0.3, **options) -> None:
        super().__init__(**options)
        if features not in ("noisy_onehot", "random"):
            raise UserError(f"data.features={features} is not one of noisy_onehot, random.")
        if features == "noisy_onehot" and self.num_features < num_blocks:
            raise UserError(f"data.num_features={self.num_features} cannot hold a one-hot of {num_blocks} blocks; "
                            f"set data.num_features to at least {num_blocks}.")
        self.num_blocks, self.block_size, self.p_in, self.p_out = num_blocks, block_size, p_in, p_out
        self.features, self.feature_noise = features, feature_noise
        self.train_per_class, self.val_fraction = train_per_class, val_fraction

    def load(self) -> tuple[Graph, tuple[torch.Tensor, ...]]:
        generator = torch.Generator().manual_seed(self.seed)
        n = self.num_blocks * self.block_size
        y = torch.arange(self.num_blocks).repeat_interleave(self.block_size)
        same_block = y.unsqueeze(0) == y.unsqueeze(1)
        probability = torch.where(same_block, self.p_in, self.p_out)
        upper = torch.rand(n, n, generator=generator).triu(diagonal=1)  # each pair i < j drawn once
        edges = ((upper > 0) & (upper < probability)).nonzero().t()
        x = self.feature_noise * torch.randn(n, self.num_features, generator=generator)
        if self.features == "noisy_onehot":
            x[:, : self.num_blocks] += F.one_hot(y, self.num_blocks).float()
        graph = {"x": x, "edge_index": to_undirected(edges, n), "y": y}
        return graph, random_node_split(y, self.train_per_class, self.val_fraction, generator)


def cycle(n: int) -> torch.Tensor:
    nodes = torch.arange(n)
    return torch.stack([nodes, (nodes + 1) % n])


def random_tree(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random recursive tree: node i (i >= 1) hangs off a uniformly chosen node among 0..i-1."""
    children = torch.arange(1, n)
    parents = (torch.rand(n - 1, generator=generator) * children).long()
    return torch.stack([parents, children])


class CyclesVsTreesData(GraphClassificationData):
    def __init__(self, num_graphs: int = 600, min_nodes: int = 6, max_nodes: int = 20, **options) -> None:
        super().__init__(**options)
        if min_nodes < 3:
            raise UserError(f"data.min_nodes={min_nodes} is too small for a cycle; set data.min_nodes=3 or more.")
        self.num_graphs, self.min_nodes, self.max_nodes = num_graphs, min_nodes, max_nodes

    def load(self) -> list[Graph]:
        generator = torch.Generator().manual_seed(self.seed)
        graphs = []
        for i in range(self.num_graphs):
            n = int(torch.randint(self.min_nodes, self.max_nodes + 1, (1,), generator=generator))
            label = i % 2  # 0: cycle, 1: tree
            edges = cycle(n) if label == 0 else random_tree(n, generator)
            graphs.append({"x": torch.ones(n, self.num_features), "edge_index": to_undirected(edges, n),
                           "y": torch.tensor([label])})
        return graphs
