"""Graph data: the batch format every graph task reads, and the two kinds of graph data module.

A graph is a dict of tensors::

    x           (N, F) float   node features
    edge_index  (2, E) long    directed edges source -> target; an undirected
                               edge is stored once in each direction
    edge_attr   (E, Fe) float  edge features (only where the data has them)
    y           (N,) or (1,)   node labels, or the graph's label

Node-level data (``NodeGraphData``: karate club, SBM, Cora...) is one graph:
every batch is the whole graph plus the nodes of its split (``mask``). The train
loader yields it ``steps_per_epoch`` times per epoch (full-batch training, as
GCN is trained), the val and test loaders once. The same batch also carries an
edge split for link prediction: ``message_edge_index`` (the graph without the
held-out edges, for message passing), ``pos_edges`` (the split's true edges,
each once) and, for val and test, ``neg_edges`` (as many seeded non-edges).

Graph-level data (``GraphClassificationData``: cycles vs trees, MUTAG) is a list
of small graphs; ``collate_graphs`` batches them into one disconnected graph
with a ``batch`` vector (node -> graph) and ``num_graphs``.
"""
from __future__ import annotations

import logging
import urllib.request
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from dltrain.data.core.base import DataModule
from dltrain.data.core.splits import train_val_test
from dltrain.errors import UserError

log = logging.getLogger(__name__)

Graph = dict[str, Any]


# ----------------------------------------------------------------- edges
def to_undirected(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Both directions of every edge, each once, without self-loops, sorted."""
    source, target = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    keys = torch.unique(source[source != target] * num_nodes + target[source != target])
    return torch.stack([keys // num_nodes, keys % num_nodes])


def unique_pairs(edge_index: torch.Tensor) -> torch.Tensor:
    """Each undirected edge once, as (i, j) with i < j."""
    return edge_index[:, edge_index[0] < edge_index[1]]


def sample_non_edges(edge_index: torch.Tensor, num_nodes: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` distinct node pairs (i < j) that are not edges: negatives for link prediction."""
    taken = set((edge_index[0] * num_nodes + edge_index[1]).tolist())
    found: list[int] = []
    while len(found) < count:
        i, j = torch.randint(num_nodes, (2, 2 * count), generator=generator)
        for key in (torch.minimum(i, j) * num_nodes + torch.maximum(i, j))[i != j].tolist():
            if key not in taken:
                taken.add(key)
                found.append(key)
    keys = torch.tensor(found[:count], dtype=torch.long)
    return torch.stack([keys // num_nodes, keys % num_nodes])


def split_edges(edge_index: torch.Tensor, num_nodes: int, val_fraction: float, test_fraction: float,
                generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Hold out undirected edges for link prediction; negatives for val / test are fixed here."""
    pairs = unique_pairs(edge_index)
    pairs = pairs[:, torch.randperm(pairs.shape[1], generator=generator)]
    num_val, num_test = round(val_fraction * pairs.shape[1]), round(test_fraction * pairs.shape[1])
    val, test, train = pairs[:, :num_val], pairs[:, num_val:num_val + num_test], pairs[:, num_val + num_test:]
    negatives = sample_non_edges(pairs, num_nodes, num_val + num_test, generator)
    return {
        "message_edge_index": to_undirected(train, num_nodes),
        "train_pos": train, "val_pos": val, "test_pos": test,
        "val_neg": negatives[:, :num_val], "test_neg": negatives[:, num_val:],
    }


# ----------------------------------------------------------------- nodes
def random_node_split(y: torch.Tensor, train_per_class: int, val_fraction: float,
                      generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Planetoid-style masks: ``train_per_class`` labelled nodes per class, the rest split into val and test."""
    order = torch.randperm(len(y), generator=generator)
    train = torch.zeros(len(y), dtype=torch.bool)
    for label in y.unique():
        train[order[y[order] == label][:train_per_class]] = True
    rest = order[~train[order]]
    num_val = round(val_fraction * len(rest))
    val, test = torch.zeros_like(train), torch.zeros_like(train)
    val[rest[:num_val]], test[rest[num_val:]] = True, True
    return train, val, test


class _Repeated(Dataset):
    """One batch (a whole graph), ``times`` times."""

    def __init__(self, graph: Graph, times: int) -> None:
        self.graph, self.times = graph, times

    def __len__(self) -> int:
        return self.times

    def __getitem__(self, index: int) -> Graph:
        return self.graph


def _the_only(items: list[Graph]) -> Graph:
    return items[0]


def check_sizes(data: Any, num_features: int, num_classes: int, num_edge_features: int) -> None:
    """The config's static facts must match the loaded data (models were built from them)."""
    for key, found in (("num_features", num_features), ("num_classes", num_classes),
                       ("num_edge_features", num_edge_features)):
        if getattr(data, key) != found:
            raise UserError(f"data.{key}={getattr(data, key)} but {type(data).__name__} has {found}; "
                            f"set data.{key}={found}.")


class NodeGraphData(DataModule):
    """One graph, node labels and train / val / test node masks; subclasses implement ``load``."""

    level = "node"
    collate_fn = staticmethod(_the_only)

    def __init__(self, num_features: int, num_classes: int, num_edge_features: int = 0, steps_per_epoch: int = 1,
                 link_val_fraction: float = 0.05, link_test_fraction: float = 0.1, **loader_options) -> None:
        super().__init__(batch_size=1, **loader_options)
        self.num_features, self.num_classes, self.num_edge_features = num_features, num_classes, num_edge_features
        self.steps_per_epoch = steps_per_epoch
        self.link_val_fraction, self.link_test_fraction = link_val_fraction, link_test_fraction

    def load(self) -> tuple[Graph, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The graph (x, edge_index, y) and its (train, val, test) node masks."""
        raise NotImplementedError

    def setup(self) -> None:
        graph, masks = self.load()
        num_nodes = graph["x"].shape[0]
        check_sizes(self, graph["x"].shape[1], int(graph["y"].max()) + 1, 0)
        edges = split_edges(graph["edge_index"], num_nodes, self.link_val_fraction, self.link_test_fraction,
                            torch.Generator().manual_seed(self.seed))
        splits = {}
        for name, mask in zip(("train", "val", "test"), masks):
            splits[name] = {**graph, "mask": mask, "num_graphs": 1,
                            "message_edge_index": edges["message_edge_index"], "pos_edges": edges[f"{name}_pos"]}
            if name != "train":  # training negatives are sampled afresh every step by the task
                splits[name]["neg_edges"] = edges[f"{name}_neg"]
        log.info("%s: %d nodes, %d edges, %d / %d / %d labelled train / val / test nodes", type(self).__name__,
                 num_nodes, graph["edge_index"].shape[1] // 2, *(int(m.sum()) for m in masks))
        self.train_dataset = _Repeated(splits["train"], self.steps_per_epoch)
        self.val_dataset = _Repeated(splits["val"], 1)
        self.test_dataset = _Repeated(splits["test"], 1)


# ----------------------------------------------------------------- graphs
def collate_graphs(graphs: list[Graph]) -> Graph:
    """Batch small graphs into one disconnected graph: node indices are offset, ``batch`` says whose node."""
    sizes = torch.tensor([g["x"].shape[0] for g in graphs])
    offsets = torch.cumsum(sizes, 0) - sizes
    batch = {
        "x": torch.cat([g["x"] for g in graphs]),
        "edge_index": torch.cat([g["edge_index"] + offset for g, offset in zip(graphs, offsets.tolist())], dim=1),
        "y": torch.cat([g["y"] for g in graphs]),
        "batch": torch.repeat_interleave(torch.arange(len(graphs)), sizes),
        "num_graphs": len(graphs),
    }
    if "edge_attr" in graphs[0]:
        batch["edge_attr"] = torch.cat([g["edge_attr"] for g in graphs])
    return batch


class GraphListDataset(Dataset):
    def __init__(self, graphs: list[Graph]) -> None:
        self.graphs = graphs

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> Graph:
        return self.graphs[index]


class GraphClassificationData(DataModule):
    """Many small graphs with one label each; a stratified seeded split; subclasses implement ``load``."""

    level = "graph"
    collate_fn = staticmethod(collate_graphs)

    def __init__(self, num_features: int, num_classes: int, num_edge_features: int = 0, val_fraction: float = 0.1,
                 test_fraction: float = 0.1, **loader_options) -> None:
        super().__init__(**loader_options)
        self.num_features, self.num_classes, self.num_edge_features = num_features, num_classes, num_edge_features
        self.val_fraction, self.test_fraction = val_fraction, test_fraction

    def load(self) -> list[Graph]:
        """The graphs, each with x, edge_index (both directions), y of shape (1,), maybe edge_attr."""
        raise NotImplementedError

    def setup(self) -> None:
        graphs = self.load()
        labels = torch.cat([g["y"] for g in graphs])
        edge_features = graphs[0]["edge_attr"].shape[1] if "edge_attr" in graphs[0] else 0
        check_sizes(self, graphs[0]["x"].shape[1], int(labels.max()) + 1, edge_features)
        train, val, test = train_val_test(list(range(len(graphs))), self.val_fraction, self.test_fraction,
                                          self.seed, stratify=labels)
        log.info("%s: %d graphs, %d / %d / %d train / val / test", type(self).__name__, len(graphs),
                 len(train), len(val), len(test))
        self.train_dataset = GraphListDataset([graphs[i] for i in train])
        self.val_dataset = GraphListDataset([graphs[i] for i in val])
        self.test_dataset = GraphListDataset([graphs[i] for i in test])


# ----------------------------------------------------------------- downloads
def fetch(urls: dict[str, str], folder: Path, what: str, download: bool, alternative: str = "") -> None:
    """Make sure ``folder`` holds every file of ``urls`` (name -> url); one sentence if it cannot.

    ``alternative`` completes "put FILES in FOLDER..." with another layout that works too."""
    missing = [name for name in urls if not (folder / name).is_file()]
    if not missing:
        return
    try:
        if not download:
            raise FileNotFoundError(folder / missing[0])
        folder.mkdir(parents=True, exist_ok=True)
        for name in missing:
            log.info("downloading %s", urls[name])
            partial = folder / f"{name}.part"  # an interrupted download never looks complete
            urllib.request.urlretrieve(urls[name], partial)
            partial.rename(folder / name)
    except Exception as error:  # offline: URLError, OSError, timeouts...
        how = "it could not be downloaded" if download else "data.download=false"
        raise UserError(
            f"{what} is not on disk and {how} ({type(error).__name__}): put {', '.join(missing)} in "
            f"{folder.resolve()}{alternative}, or set data.root=DIR to where they are."
        ) from None
