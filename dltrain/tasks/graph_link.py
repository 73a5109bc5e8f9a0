"""Link prediction: which node pairs are edges? A graph auto-encoder (Kipf & Welling 2016) style task.

The model embeds every node from the graph *without* the held-out edges
(``message_edge_index``), and a pair (i, j) scores ``z_i · z_j`` (a dot-product
decoder): high for an edge, low for a non-edge. Training sees the training
edges as positives and, each step, ``num_negatives`` uniformly random node
pairs per positive as negatives (negative sampling: the graph is sparse, so a
random pair is almost never an edge); the loss is binary cross-entropy on the
scores (the task uses it whatever ``loss`` config is set).

Validation and test score their held-out edges against as many fixed
non-edges (``dltrain/data/graph/base.py``); the metric is the ROC-AUC, the
probability that a true edge outscores a non-edge, exact over the pass.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.tasks.base import Task
from dltrain.tasks.graph import check_level, forward_graph


def roc_auc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """Area under the ROC curve = P(a positive outscores a negative), ties counting one half.

    The Mann-Whitney form: rank all scores (tied scores share their mean rank);
    ``AUC = (sum of the positives' ranks - P (P + 1) / 2) / (P N)``.
    """
    scores = torch.cat([positive, negative]).double()
    values, inverse, counts = torch.unique(scores, return_inverse=True, return_counts=True)
    last_rank = torch.cumsum(counts, 0).double()  # ranks are 1-based: a group of c ties spans c ranks
    mean_rank = last_rank - (counts.double() - 1) / 2
    p, n = len(positive), len(negative)
    rank_sum = mean_rank[inverse[:p]].sum()
    return ((rank_sum - p * (p + 1) / 2) / max(p * n, 1)).item()


def score(embeddings: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """The dot-product decoder: one logit per node pair (2, P)."""
    return (embeddings[pairs[0]] * embeddings[pairs[1]]).sum(dim=1)


class LinkPredictionTask(Task):
    def __init__(self, model: nn.Module, loss: nn.Module | None = None, name: str = "link_prediction",
                 monitor: str = "val/auc", monitor_mode: str = "max", num_negatives: int = 1) -> None:
        super().__init__(model, name, monitor, monitor_mode)
        self.num_negatives = num_negatives
        self._scores: list[tuple[torch.Tensor, torch.Tensor]] = []

    def embed(self, batch: dict[str, Any]) -> torch.Tensor:
        return forward_graph(self.model, batch, edge_index=batch["message_edge_index"])

    def pair_loss(self, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        logits = torch.cat([positive, negative])
        labels = torch.cat([torch.ones_like(positive), torch.zeros_like(negative)])
        return F.binary_cross_entropy_with_logits(logits, labels)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        z = self.embed(batch)
        positives = batch["pos_edges"]
        negatives = torch.randint(z.shape[0], (2, positives.shape[1] * self.num_negatives), device=z.device)
        return {"loss": self.pair_loss(score(z, positives).float(), score(z, negatives).float())}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        z = self.embed(batch)
        self._scores.append((score(z, batch["pos_edges"]).float(), score(z, batch["neg_edges"]).float()))

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        positive = torch.cat([p for p, _ in self._scores])
        negative = torch.cat([n for _, n in self._scores])
        return {f"{prefix}/loss": self.pair_loss(positive, negative).item(),
                f"{prefix}/auc": roc_auc(positive, negative)}

    def reset_metrics(self) -> None:
        self._scores = []

    def example_forward(self, batch: dict[str, Any]) -> torch.Tensor:
        """The sample is the whole graph: every embedding depends on its neighbours."""
        return self.embed(batch)

    def check_data(self, data: Any) -> None:
        check_level("link prediction", "node", data,
                    "pick one graph to hold edges out of (data=karate_club, sbm, cora, citeseer, pubmed)")
