"""Node and graph classification with graph neural networks.

Node classification (``NodeClassificationTask``): a batch is the whole graph
with the ``mask`` of its split's nodes (``dltrain/data/graph/base.py``). The model
sees every node and edge — unlabelled nodes pass messages too, which is what
makes it *semi-supervised* — but the loss and the metrics only count the
masked nodes: the train step the few labelled nodes, validation and test
their own nodes.

Graph classification (``GraphClassificationTask``): a batch is several small
graphs joined into one disconnected graph with a ``batch`` vector; the model
pools each graph's nodes (its readout) into one row of logits per graph.

Both reuse the classification task's loss handling and metrics (accuracy,
balanced accuracy, confusion matrix), exact over the whole pass.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.tasks.classification import ClassificationTask


def forward_graph(model: nn.Module, graph: dict[str, Any], edge_index: torch.Tensor | None = None) -> torch.Tensor:
    """Run a graph model on a batch dict; ``edge_index`` replaces the batch's edges (then without edge features)."""
    options = {"batch": graph.get("batch"), "num_graphs": graph.get("num_graphs", 1)}
    if getattr(model, "uses_edge_attr", False):
        options["edge_attr"] = graph.get("edge_attr") if edge_index is None else None
    return model(graph["x"], graph["edge_index"] if edge_index is None else edge_index, **options)


def first_graph(graph: dict[str, Any]) -> dict[str, Any]:
    """The first graph of a batch of graphs, as a batch of one (for the one-sample forward)."""
    nodes = graph["batch"] == 0
    edges = nodes[graph["edge_index"][0]]
    single = {"x": graph["x"][nodes], "edge_index": graph["edge_index"][:, edges], "y": graph["y"][:1],
              "batch": graph["batch"][nodes], "num_graphs": 1}
    if "edge_attr" in graph:
        single["edge_attr"] = graph["edge_attr"][edges]
    return single


LEVELS = {"node": "one graph with node labels", "graph": "a set of labelled graphs"}


def check_level(task: str, level: str, data: Any, instead: str) -> None:
    """A node task needs node data, a graph task graph data; one sentence otherwise."""
    found = getattr(data, "level", None)
    if found != level:
        raise UserError(f"The {task} task needs {LEVELS[level]} and {type(data).__name__} holds "
                        f"{LEVELS.get(found, 'no graphs')}; {instead}.")


class NodeClassificationTask(ClassificationTask):
    predict_inputs = None  # mode=predict reads image files; these inputs are not images

    def __init__(self, model: nn.Module, loss: nn.Module, num_classes: int, name: str = "node_classification",
                 monitor: str = "val/acc", monitor_mode: str = "max", top_k: int = 1) -> None:
        super().__init__(model, loss, num_classes, name, monitor, monitor_mode, top_k, num_sample_images=0)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        logits = forward_graph(self.model, batch)
        mask = batch["mask"]
        return {"loss": self.loss(logits[mask], batch["y"][mask])}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        mask = batch["mask"]
        logits, target = forward_graph(self.model, batch)[mask].float(), batch["y"][mask]
        self.metrics.update(logits, target, self.loss(logits, target))

    def example_forward(self, batch: dict[str, Any]) -> torch.Tensor:
        """The sample is the whole graph: every node's output depends on its neighbours."""
        return forward_graph(self.model, batch)

    def check_data(self, data: Any) -> None:
        check_level("node classification", "node", data,
                    "pick node data (data=karate_club, sbm, cora, citeseer, pubmed) or a graph-level model "
                    "(model=gcn_graph, gin, mpnn)")


class GraphClassificationTask(ClassificationTask):
    predict_inputs = None  # mode=predict reads image files; these inputs are not images

    def __init__(self, model: nn.Module, loss: nn.Module, num_classes: int, name: str = "graph_classification",
                 monitor: str = "val/acc", monitor_mode: str = "max", top_k: int = 1) -> None:
        super().__init__(model, loss, num_classes, name, monitor, monitor_mode, top_k, num_sample_images=0)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return {"loss": self.loss(forward_graph(self.model, batch), batch["y"])}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = forward_graph(self.model, batch).float()
        self.metrics.update(logits, batch["y"], self.loss(logits, batch["y"]))

    def example_forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return forward_graph(self.model, first_graph(batch))

    def check_data(self, data: Any) -> None:
        check_level("graph classification", "graph", data,
                    "pick a graph set (data=cycles_vs_trees, tu_mutag) or a node-level model "
                    "(model=gcn, graphsage, mpnn_node)")
