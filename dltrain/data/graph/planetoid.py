"""Cora, CiteSeer, PubMed citation graphs in the Planetoid format (Yang, Cohen & Salakhutdinov 2016).

Nodes are papers, edges citations, features bag-of-words (Cora, CiteSeer) or
TF-IDF (PubMed) vectors, labels the topic. The standard semi-supervised split
of Kipf & Welling: 20 labelled nodes per class for training, the next 500
nodes for validation, the 1,000 listed in ``test.index`` for testing.

The eight files ``ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}`` are read
from ``root/planetoid`` (downloaded there from the Planetoid repository when
online). ``x``/``y`` are the labelled training nodes, ``allx``/``ally`` every
non-test node, ``tx``/``ty`` the test nodes (in ``test.index`` order);
``graph`` maps each node to its neighbours. Features are row-normalised, as
in the GCN paper.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from dltrain.data.graph.base import Graph, NodeGraphData, fetch, to_undirected

URL = "https://github.com/kimiyoung/planetoid/raw/master/data"
PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph")
NUM_VAL = 500


def read_planetoid(folder: Path, name: str) -> tuple[Graph, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The graph and its standard (train, val, test) masks from the eight Planetoid files."""
    # the files are Python 2 pickles of scipy / numpy objects
    x, y, tx, ty, allx, ally, neighbours = (
        pickle.load((folder / f"ind.{name}.{part}").open("rb"), encoding="latin1") for part in PARTS
    )
    test_index = np.loadtxt(folder / f"ind.{name}.test.index", dtype=np.int64)
    test_range = np.sort(test_index)
    if name == "citeseer":  # some test nodes are isolated and missing from tx / ty: give them empty rows
        full = np.arange(test_range.min(), test_range.max() + 1)
        tx_full = sp.lil_matrix((len(full), tx.shape[1]))
        tx_full[test_range - test_range.min(), :] = tx
        ty_full = np.zeros((len(full), ty.shape[1]))
        ty_full[test_range - test_range.min(), :] = ty
        tx, ty, test_range = tx_full, ty_full, full
    features = sp.vstack([allx, tx]).tolil()
    features[test_index, :] = features[test_range, :]  # tx rows come in test.index order: put them in place
    labels = np.vstack([ally, ty])
    labels[test_index, :] = labels[test_range, :]
    num_nodes = features.shape[0]

    x_dense = torch.tensor(features.toarray(), dtype=torch.float32)
    x_dense = x_dense / x_dense.sum(1, keepdim=True).clamp(min=1e-12)  # row-normalised bag of words
    edges = [(i, j) for i, js in neighbours.items() for j in js if i < num_nodes and j < num_nodes]
    edge_index = to_undirected(torch.tensor(edges, dtype=torch.long).t(), num_nodes)
    graph = {"x": x_dense, "edge_index": edge_index, "y": torch.from_numpy(labels.argmax(1)).long()}

    masks = [torch.zeros(num_nodes, dtype=torch.bool) for _ in range(3)]
    masks[0][: len(y)] = True
    masks[1][len(y): len(y) + NUM_VAL] = True
    masks[2][torch.from_numpy(np.sort(np.asarray(test_index)))] = True
    return graph, tuple(masks)


class PlanetoidData(NodeGraphData):
    """``name``: cora, citeseer or pubmed."""

    def __init__(self, name: str, root: str, download: bool = True, **options) -> None:
        super().__init__(**options)
        self.name, self.root, self.download = name.lower(), Path(root), download

    def load(self) -> tuple[Graph, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        folder = self.root / "planetoid"
        files = [f"ind.{self.name}.{part}" for part in (*PARTS, "test.index")]
        fetch({f: f"{URL}/{f}" for f in files}, folder, f"The Planetoid {self.name} dataset", self.download)
        return read_planetoid(folder, self.name)
