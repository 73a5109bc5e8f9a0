"""TU graph-classification datasets (Morris et al. 2020, "TUDataset"), e.g. MUTAG.

MUTAG: 188 nitroaromatic molecules, labelled mutagenic or not; nodes are atoms
(7 types, one-hot features), edges bonds (4 types, one-hot edge features).

A TU dataset ``NAME`` is a folder of text files read from ``root/TU/NAME``
(downloaded and unzipped there when online):

    NAME_A.txt                 one edge per line: "source, target" (1-based node ids, both directions)
    NAME_graph_indicator.txt   line i: the graph of node i
    NAME_graph_labels.txt      line g: the label of graph g
    NAME_node_labels.txt       line i: the label of node i (optional: features, one-hot)
    NAME_edge_labels.txt       line k: the label of edge k (optional: edge features, one-hot)
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F

from dltrain.data.graph.base import Graph, GraphClassificationData, fetch

URL = "https://www.chrsmrrs.com/graphkerneldatasets"


def _read_ints(path: Path) -> torch.Tensor:
    rows = [[int(v) for v in line.replace(",", " ").split()] for line in path.read_text().splitlines() if line.strip()]
    return torch.tensor(rows, dtype=torch.long).squeeze(1)


def _one_hot(labels: torch.Tensor) -> torch.Tensor:
    """One-hot of labels that start at their minimum (TU labels start at 0 or 1)."""
    labels = labels - labels.min()
    return F.one_hot(labels, int(labels.max()) + 1).float()


def read_tu(folder: Path, name: str) -> list[Graph]:
    edges = _read_ints(folder / f"{name}_A.txt").t() - 1
    node_graph = _read_ints(folder / f"{name}_graph_indicator.txt") - 1
    _, graph_labels = torch.unique(_read_ints(folder / f"{name}_graph_labels.txt"), return_inverse=True)
    node_labels, edge_labels = folder / f"{name}_node_labels.txt", folder / f"{name}_edge_labels.txt"
    x = _one_hot(_read_ints(node_labels)) if node_labels.is_file() else torch.ones(len(node_graph), 1)
    edge_attr = _one_hot(_read_ints(edge_labels)) if edge_labels.is_file() else None

    starts = torch.searchsorted(node_graph, torch.arange(len(graph_labels) + 1))  # nodes are sorted by graph
    edge_graph = node_graph[edges[0]]
    graphs = []
    for g in range(len(graph_labels)):
        in_graph = edge_graph == g
        graph = {"x": x[starts[g]:starts[g + 1]], "edge_index": edges[:, in_graph] - starts[g],
                 "y": graph_labels[g:g + 1]}
        if edge_attr is not None:
            graph["edge_attr"] = edge_attr[in_graph]
        graphs.append(graph)
    return graphs


class TUData(GraphClassificationData):
    def __init__(self, name: str, root: str, download: bool = True, **options) -> None:
        super().__init__(**options)
        self.name, self.root, self.download = name, Path(root), download

    def load(self) -> list[Graph]:
        folder = self.root / "TU" / self.name
        if not (folder / f"{self.name}_A.txt").is_file():
            archive = f"{self.name}.zip"
            fetch({archive: f"{URL}/{archive}"}, self.root / "TU", f"The TU dataset {self.name}", self.download,
                  alternative=f" (or its unzipped {self.name}_*.txt files in {folder.resolve()})")
            with zipfile.ZipFile(self.root / "TU" / archive) as zipped:  # holds NAME/NAME_A.txt ...
                zipped.extractall(self.root / "TU")
        return read_tu(folder, self.name)
