"""One tiny forward / backward per graph model config, through its own task and offline data."""
from __future__ import annotations

import pytest
import torch

from dltrain import api
from dltrain.errors import UserError
from dltrain.launch import build
from dltrain.models.graph.gcn import GCN
from dltrain.models.graph.gin import GIN
from dltrain.models.graph.graphsage import GraphSAGE
from dltrain.models.graph.mpnn import MPNN

SMALL = {"karate_club": [], "cycles_vs_trees": ["data.num_graphs=24", "data.batch_size=8"]}
CONFIGS = [("gcn", "karate_club"), ("gcn_graph", "cycles_vs_trees"), ("gcn_link", "karate_club"),
           ("graphsage", "karate_club"), ("gin", "cycles_vs_trees"), ("mpnn", "cycles_vs_trees"),
           ("mpnn_node", "karate_club")]


@pytest.mark.parametrize(("model", "data"), CONFIGS)
def test_model_config_trains_one_step_through_its_task(model: str, data: str) -> None:
    cfg = api.compose([f"model={model}", f"data={data}", *SMALL[data]])
    datamodule = build.build_data(cfg)
    task = build.build_task(cfg)
    task.check_data(datamodule)
    task.train()
    output = task.training_step(next(iter(datamodule.train_dataloader())), 0)
    output["loss"].backward()
    assert torch.isfinite(output["loss"])
    first = next(p for p in task.model.parameters() if p.dim() > 1)
    assert first.grad is not None and first.grad.abs().sum() > 0  # gradients reach the first layer

    task.eval()
    with torch.no_grad():
        for batch in datamodule.val_dataloader():
            task.validation_step(batch, 0)
        metrics = task.compute_metrics("val")
        assert task.example_forward(batch).shape[0] >= 1
    assert cfg.task.monitor in metrics and 0 <= metrics[cfg.task.monitor] <= 1


NODE_MODELS = [GCN(5, 3), GraphSAGE(5, 3), GIN(5, 3, readout=None), MPNN(5, 3, readout=None)]
GRAPH_MODELS = [GCN(5, 3, readout="mean"), GraphSAGE(5, 3, readout="max"), GIN(5, 3), MPNN(5, 3)]


def random_graph(n: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    edges = torch.randint(n, (2, 20), generator=generator)
    edges = edges[:, edges[0] != edges[1]]
    return torch.randn(n, 5, generator=generator), torch.cat([edges, edges.flip(0)], dim=1)


@pytest.mark.parametrize("model", NODE_MODELS, ids=lambda m: type(m).__name__)
def test_node_outputs_follow_a_relabelling_of_the_nodes(model: torch.nn.Module) -> None:
    x, edge_index = random_graph()
    permutation = torch.randperm(len(x), generator=torch.Generator().manual_seed(1))
    new_id = torch.empty_like(permutation)
    new_id[permutation] = torch.arange(len(x))  # node permutation[k] becomes node k
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x[permutation], new_id[edge_index]), model(x, edge_index)[permutation])


@pytest.mark.parametrize("model", GRAPH_MODELS, ids=lambda m: type(m).__name__)
def test_graph_outputs_ignore_the_order_of_nodes_and_of_graphs_in_a_batch(model: torch.nn.Module) -> None:
    x, edge_index = random_graph()
    permutation = torch.randperm(len(x), generator=torch.Generator().manual_seed(1))
    new_id = torch.empty_like(permutation)
    new_id[permutation] = torch.arange(len(x))
    model.eval()
    with torch.no_grad():
        alone = model(x, edge_index)
        torch.testing.assert_close(model(x[permutation], new_id[edge_index]), alone)
        # batched with a second graph, the first graph's output does not change
        y, other_edges = random_graph(4)
        batch = torch.tensor([0] * len(x) + [1] * 4)
        both = model(torch.cat([x, y]), torch.cat([edge_index, other_edges + len(x)], dim=1), batch, 2)
        torch.testing.assert_close(both[:1], alone)


def test_mpnn_uses_edge_features() -> None:
    x, edge_index = random_graph()
    model = MPNN(5, 2, num_edge_features=3).eval()
    edge_attr = torch.randn(edge_index.shape[1], 3)
    with torch.no_grad():
        assert not torch.allclose(model(x, edge_index, edge_attr=edge_attr), model(x, edge_index, edge_attr=-edge_attr))


def test_unknown_readout_is_one_sentence() -> None:
    with pytest.raises(UserError, match="model.readout=median"):
        GCN(5, 3, readout="median")
    with pytest.raises(UserError, match="model.aggregation=median"):
        MPNN(5, 3, aggregation="median")
