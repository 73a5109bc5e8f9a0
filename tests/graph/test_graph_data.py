"""Graph data modules: the Planetoid and TU readers on tiny files, offline failures, user mistakes."""
from __future__ import annotations

import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from dltrain.data.graph.planetoid import PlanetoidData
from dltrain.data.graph.synthetic import CyclesVsTreesData, KarateClubData, SBMData
from dltrain.data.graph.tu import TUData
from dltrain.errors import UserError
from dltrain.tasks.graph import GraphClassificationTask, NodeClassificationTask
from dltrain.tasks.graph_link import LinkPredictionTask


def write_planetoid(folder: Path) -> None:
    """A 6-node 'cora' in the Planetoid layout: 2 labelled train nodes, nodes 4 and 5 are the test nodes
    listed in reverse order in test.index (so the reader must put tx rows back in place)."""
    folder.mkdir(parents=True)
    features = np.eye(6, 3) + 1  # row i has a 2 in column i (i < 3), ones elsewhere
    labels = np.eye(2)[[0, 1, 0, 1, 1, 0]]
    parts = {
        "x": sp.csr_matrix(features[:2]), "y": labels[:2],
        "allx": sp.csr_matrix(features[:4]), "ally": labels[:4],
        "tx": sp.csr_matrix(features[[5, 4]]), "ty": labels[[5, 4]],
        "graph": defaultdict(list, {0: [1], 1: [0, 2], 2: [1, 3], 3: [2, 4], 4: [3, 5], 5: [4]}),
    }
    for name, value in parts.items():
        with (folder / f"ind.cora.{name}").open("wb") as file:
            pickle.dump(value, file)
    (folder / "ind.cora.test.index").write_text("5\n4\n")


def test_planetoid_reader_puts_test_nodes_in_place(tmp_path: Path) -> None:
    write_planetoid(tmp_path / "planetoid")
    data = PlanetoidData("cora", str(tmp_path), download=False, num_features=3, num_classes=2)
    data.setup()
    graph = data.val_dataset[0]
    assert graph["y"].tolist() == [0, 1, 0, 1, 1, 0]
    expected = torch.tensor(np.eye(6, 3) + 1, dtype=torch.float32)
    torch.testing.assert_close(graph["x"], expected / expected.sum(1, keepdim=True))  # row-normalised
    assert graph["edge_index"].shape == (2, 10)
    assert data.train_dataset[0]["mask"].tolist() == [True, True, False, False, False, False]
    assert data.test_dataset[0]["mask"].tolist() == [False] * 4 + [True, True]


def test_planetoid_offline_without_files_says_where_to_put_them(tmp_path: Path) -> None:
    data = PlanetoidData("citeseer", str(tmp_path), download=False, num_features=3703, num_classes=6)
    with pytest.raises(UserError, match=r"ind\.citeseer\.x.*planetoid.*data\.root"):
        data.setup()


def write_tu(folder: Path) -> None:
    """Two graphs: a labelled triangle (graph label 1) and a single edge (graph label -1)."""
    folder.mkdir(parents=True)
    (folder / "TOY_A.txt").write_text("1, 2\n2, 1\n2, 3\n3, 2\n3, 1\n1, 3\n4, 5\n5, 4\n")
    (folder / "TOY_graph_indicator.txt").write_text("1\n1\n1\n2\n2\n")
    (folder / "TOY_graph_labels.txt").write_text("1\n-1\n")
    (folder / "TOY_node_labels.txt").write_text("0\n1\n2\n0\n0\n")
    (folder / "TOY_edge_labels.txt").write_text("0\n0\n1\n1\n0\n0\n1\n1\n")


def test_tu_reader_splits_graphs_with_node_and_edge_features(tmp_path: Path) -> None:
    write_tu(tmp_path / "TU" / "TOY")
    data = TUData("TOY", str(tmp_path), download=False, num_features=3, num_classes=2, num_edge_features=2)
    graphs = data.load()
    assert [g["y"].item() for g in graphs] == [1, 0]
    assert graphs[0]["x"].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert graphs[1]["edge_index"].tolist() == [[0, 1], [1, 0]]  # renumbered from 0 within its graph
    assert graphs[1]["edge_attr"].tolist() == [[0, 1], [0, 1]]


def test_tu_offline_without_files_says_where_to_put_them(tmp_path: Path) -> None:
    data = TUData("MUTAG", str(tmp_path), download=False, num_features=7, num_classes=2, num_edge_features=4)
    with pytest.raises(UserError, match=r"MUTAG\.zip.*MUTAG_\*\.txt"):
        data.setup()


def test_stated_sizes_must_match_the_data() -> None:
    with pytest.raises(UserError, match="data.num_features=8 .* set data.num_features=34"):
        KarateClubData(num_features=8, num_classes=2).setup()


def test_generated_data_is_seeded_and_balanced() -> None:
    first, second = (SBMData(num_features=8, num_classes=4, block_size=30, seed=3) for _ in range(2))
    first.setup(), second.setup()
    torch.testing.assert_close(first.val_dataset[0]["edge_index"], second.val_dataset[0]["edge_index"])
    cycles = CyclesVsTreesData(num_features=1, num_classes=2, num_graphs=40, seed=0)
    graphs = cycles.load()
    assert sum(g["y"].item() for g in graphs) == 20
    for g in graphs:  # a cycle on n nodes has n edges, a tree n - 1 (each stored in both directions)
        assert g["edge_index"].shape[1] // 2 == len(g["x"]) - g["y"].item()


def test_a_task_on_the_wrong_kind_of_graph_data_says_what_to_pick() -> None:
    node_data = KarateClubData(num_features=34, num_classes=2)
    graph_data = CyclesVsTreesData(num_features=1, num_classes=2)
    model, loss = torch.nn.Linear(1, 2), torch.nn.CrossEntropyLoss()
    with pytest.raises(UserError, match="needs a set of labelled graphs.*model=gcn"):
        GraphClassificationTask(model, loss, 2).check_data(node_data)
    with pytest.raises(UserError, match="needs one graph with node labels.*model=gcn_graph"):
        NodeClassificationTask(model, loss, 2).check_data(graph_data)
    with pytest.raises(UserError, match="link prediction"):
        LinkPredictionTask(model).check_data(object())
