"""The graph family from the command line: one fast debug run, and slow runs that must really learn.

The learning runs pin OMP_NUM_THREADS=1: a full-graph step is a few milliseconds
of scatter work, and two threads on two shared, busy cores only wait for each other.
"""
from __future__ import annotations

import json

import pytest
from helpers import run_dirs
from sklearn.linear_model import LogisticRegression

from dltrain.data.graph.synthetic import SBMData


def results(cli, task_name: str, debug: bool = False) -> dict:
    (run_dir,) = run_dirs(cli.root, task_name, debug)
    return json.loads((run_dir / "results.json").read_text())


def test_gcn_on_karate_club_runs_from_the_command_line(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli("model=gcn", "data=karate_club", "trainer=debug", "logger=csv")
    found = results(cli, "gcn_karate_club", debug=True)
    assert {"test/acc", "test/loss"} <= set(found["test"]) and found["params"] > 0


def feature_only_accuracy(seed: int) -> float:
    """The baseline a graph model must beat on the SBM: logistic regression on node features alone."""
    data = SBMData(num_features=16, num_classes=4, seed=seed)
    data.setup()
    train, test = data.train_dataset[0], data.test_dataset[0]
    classifier = LogisticRegression(max_iter=1000).fit(train["x"][train["mask"]], train["y"][train["mask"]])
    return float((classifier.predict(test["x"][test["mask"]]) == test["y"][test["mask"]].numpy()).mean())


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["gcn_sbm", "graphsage_sbm", "mpnn_node_sbm"])
def test_node_classifiers_use_the_graph_structure_of_an_sbm(cli, monkeypatch, experiment):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli(f"experiment={experiment}", "logger=csv", "seed=42")
    accuracy = results(cli, f"{experiment.removesuffix('_sbm')}_sbm")["test"]["test/acc"]
    baseline = feature_only_accuracy(seed=42)  # about 0.46 on 4 blocks (chance 0.25)
    assert accuracy > 0.8 and accuracy > baseline + 0.25, (accuracy, baseline)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["gcn_graph_cycles_vs_trees", "gin_cycles_vs_trees", "mpnn_cycles_vs_trees"])
def test_graph_classifiers_tell_cycles_from_trees(cli, monkeypatch, experiment):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli(f"experiment={experiment}", "logger=csv")
    accuracy = results(cli, experiment)["test"]["test/acc"]
    assert accuracy > 0.9, accuracy  # chance: 0.5 (balanced classes)


@pytest.mark.slow
def test_gcn_learns_the_karate_club_split_from_four_labels(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli("experiment=gcn_karate_club", "logger=csv")
    found = results(cli, "gcn_karate_club")
    assert found["test"]["test/acc"] > 0.8, found  # 15 test members, chance 0.5


@pytest.mark.slow
def test_gcn_link_prediction_ranks_held_out_edges_above_non_edges(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli("model=gcn_link", "data=sbm", "optimizer.lr=0.01", "trainer.max_epochs=100", "logger=csv")
    auc = results(cli, "gcn_link_sbm")["test"]["test/auc"]
    # chance 0.5; knowing every node's block perfectly gives about 0.76 on this SBM
    # (77% of edges but only 25% of random pairs fall inside a block)
    assert auc > 0.67, auc
