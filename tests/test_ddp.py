"""trainer=ddp: 2 gloo processes on the CPU via torchrun match one process with the same global batch,
share one run directory, reduce their metrics exactly, and resume exactly after a preemption."""
from __future__ import annotations

import csv
import os
import socket
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers import run_dirs, run_dltrain

from dltrain import api, checkpoint
from dltrain.engine import distributed
from dltrain.engine.optimization import Optimization
from dltrain.engine.preemption import PREEMPTED_EXIT_CODE, Preemption
from dltrain.engine.sharding import Shards, ShardSampler
from dltrain.errors import UserError
from dltrain.metrics.binary import BinaryMetrics
from dltrain.metrics.classification import ClassificationMetrics
from dltrain.tasks.base import Task

TORCHRUN = str(Path(sys.executable).parent / "torchrun")
# no dropout (each rank draws its own masks) and full batches only, so 2 x 32 is exactly 1 x 64
SAME = ["trainer.max_epochs=2", "trainer.deterministic=true", "model.dropout=0", "+data.drop_last=true",
        "trainer.log_histograms=false", "logger=csv", "trainer.log_every_n_steps=1", "seed=0"]


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DLTRAIN_DATA_DIR": str(cwd / "data"), "DLTRAIN_OUTPUT_DIR": str(cwd / "outputs"),
           "OMP_NUM_THREADS": "1"}
    command = [TORCHRUN, "--nproc_per_node=2", f"--master_port={_free_port()}", "-m", "dltrain.cli",
               "trainer=ddp", "data.batch_size=32", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    """The logged steps (metrics_steps.csv: train/loss) then the epochs (metrics.csv: val/...)."""
    rows = []
    for name in ("metrics_steps.csv", "metrics.csv"):
        with (run_dir / name).open() as handle:
            rows += list(csv.DictReader(handle))
    return rows


def column(rows: list[dict[str, str]], name: str) -> list[float]:
    return [float(r[name]) for r in rows if r.get(name)]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    result = torchrun(*SAME, cwd=root)
    assert result.returncode == 0, result.stderr[-4000:]
    (run_dir,) = run_dirs(root, "mlp_digits")  # one run directory for both ranks
    return run_dir


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path, ddp_run):
    single = run_dltrain(*SAME, "data.batch_size=64", cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    (single_dir,) = run_dirs(tmp_path, "mlp_digits")
    ours, theirs = metrics_rows(ddp_run), metrics_rows(single_dir)
    assert len(column(ours, "train/loss")) == len(column(theirs, "train/loss")) == 2 * 19  # 1,216 of 1,257 / 64
    # the per-step training loss (averaged over ranks) follows the single process's curve
    torch.testing.assert_close(torch.tensor(column(ours, "train/loss")), torch.tensor(column(theirs, "train/loss")),
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.tensor(column(ours, "val/loss")), torch.tensor(column(theirs, "val/loss")),
                               rtol=1e-4, atol=1e-5)
    assert column(ours, "val/acc") == column(theirs, "val/acc")


@pytest.mark.slow
def test_one_run_directory_one_set_of_checkpoints_unwrapped(ddp_run):
    assert sorted(p.name for p in (ddp_run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt", "weights.pt"]
    assert (ddp_run / ".hydra" / "config.yaml").is_file() and (ddp_run / "results.json").is_file()
    log = (ddp_run / "train.log").read_text()
    assert log.count("epoch 2/2") == 1  # rank 0 alone logs
    state = checkpoint.load(ddp_run / "checkpoints" / "last.ckpt")
    assert state["world_size"] == 2 and len(state["per_rank"]) == 2  # each rank's RNG state for an exact resume
    assert not any(k.startswith(("module.", "task.")) for k in state["model"])
    weights = torch.load(ddp_run / "checkpoints" / "weights.pt", weights_only=True)  # rank 0's, the plain model's
    assert set(weights) == set(state["model"])


@pytest.mark.slow
def test_val_accuracy_is_the_whole_split_reduced_over_ranks(ddp_run):
    """Each rank validated half of the split; the logged accuracy is that of the whole split."""
    state = checkpoint.load(ddp_run / "checkpoints" / "last.ckpt")
    cfg = api.compose(["trainer.max_epochs=2", "model.dropout=0", "seed=0"])
    from dltrain.launch import build

    data, task = build.build_data(cfg), build.build_task(cfg)
    task.model.load_state_dict(state["model"])
    task.eval()
    with torch.no_grad():
        for batch_idx, batch in enumerate(data.val_dataloader()):
            task.validation_step(batch, batch_idx)
    whole_split = task.compute_metrics("val")
    assert state["metrics"]["val/acc"] == whole_split["val/acc"]
    assert state["metrics"]["val/loss"] == pytest.approx(whole_split["val/loss"], rel=1e-6)


@pytest.mark.slow
def test_preempted_on_one_rank_then_resumed_ends_exactly_like_the_uninterrupted_ddp_run(tmp_path, ddp_run):
    kill_rank_1 = ["+callbacks.kill._target_=dltrain.engine.preemption.SignalAtStep", "+callbacks.kill.step=25",
                   "+callbacks.kill.rank=1"]
    stopped = torchrun(*SAME, *kill_rank_1, cwd=tmp_path)
    assert f"exitcode  : {PREEMPTED_EXIT_CODE}" in stopped.stderr  # torchrun reports both workers' exit 75
    state = checkpoint.load(run_dirs(tmp_path, "mlp_digits")[0] / "checkpoints" / "last.ckpt")
    assert state["epoch"] == 1 and state["batches_done"] > 0  # mid-epoch 2, the same step on both ranks
    resumed = torchrun(*SAME, "ckpt_path=last", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    a, b = (checkpoint.load(d / "checkpoints" / "last.ckpt") for d in (run_dirs(tmp_path, "mlp_digits")[-1], ddp_run))
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key])
    assert {k: v for k, v in a["metrics"].items() if k != "train/epoch_time_s"} == \
           {k: v for k, v in b["metrics"].items() if k != "train/epoch_time_s"}


@pytest.mark.slow
def test_two_nodes_of_one_process_each_train_exactly_like_one_node_of_two(tmp_path, ddp_run):
    """Multi-node as documented: the same torchrun command on each node with its --node_rank; here both "nodes"
    run on this machine and share its file system, as cluster nodes share outputs/."""
    env = {**os.environ, "DLTRAIN_DATA_DIR": str(tmp_path / "data"), "DLTRAIN_OUTPUT_DIR": str(tmp_path / "outputs"),
           "OMP_NUM_THREADS": "1"}
    port = _free_port()
    command = [TORCHRUN, "--nnodes=2", "--nproc_per_node=1", "--rdzv-backend=c10d",
               f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=two-nodes", "-m", "dltrain.cli",
               "trainer=ddp", "data.batch_size=32", *SAME]  # docs/performance.md's multi-node command
    nodes = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [node.communicate(timeout=600) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][1][-3000:] + outputs[1][1][-3000:]
    (run_dir,) = run_dirs(tmp_path, "mlp_digits")  # one run directory for the two nodes
    ours, theirs = metrics_rows(run_dir), metrics_rows(ddp_run)
    assert column(ours, "train/loss") == column(theirs, "train/loss")
    assert column(ours, "val/acc") == column(theirs, "val/acc")


def test_shards_of_a_global_batch_are_the_single_process_batch():
    generator_seed, size, world, batch = 7, 103, 2, 8
    single = torch.randperm(size, generator=torch.Generator().manual_seed(generator_seed)).tolist()
    shards = [list(ShardSampler(size, rank, world, torch.Generator().manual_seed(generator_seed)))
              for rank in range(world)]
    assert len(shards[0]) == len(shards[1]) == 52  # padded to equal length: one duplicated sample
    for step in range(size // (world * batch)):
        global_batch = {i for shard in shards for i in shard[step * batch:(step + 1) * batch]}
        assert global_batch == set(single[step * world * batch:(step + 1) * world * batch])
    evaluation = [list(ShardSampler(size, rank, world, pad=False)) for rank in range(world)]
    assert sorted(evaluation[0] + evaluation[1]) == list(range(size))  # no sample twice, none left out


def test_evaluation_is_not_sharded_when_the_task_cannot_reduce_its_metrics():
    options = Shards(rank=1, world_size=2, shard_eval=False).loader_options(range(10), shuffle=False)
    assert "sampler" not in options
    options = Shards(rank=1, world_size=2, shard_eval=True).loader_options(range(1), shuffle=False)
    assert "sampler" not in options  # one graph for two ranks: each evaluates it whole


def test_ddp_outside_torchrun_and_torchrun_without_ddp_say_what_to_do(monkeypatch):
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UserError, match="torchrun --nproc_per_node"):
        distributed.connect("ddp", "auto", torch.device("cpu"))
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UserError, match="trainer=ddp"):
        distributed.connect("single", "auto", torch.device("cpu"))


def test_sync_batchnorm_on_the_cpu_stops_before_the_processes_connect(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets them; the check comes before init_process_group
    with pytest.raises(UserError, match="sync_batchnorm=true needs CUDA devices.*leave it false"):
        distributed.connect("ddp", "auto", torch.device("cpu"), sync_batchnorm=True)
    assert not dist.is_initialized()


def _reduce_on_rank(rank: int, port: int, results) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)
    logits, target = torch.randn(25, 4), torch.randint(0, 4, (25,))  # the same on both ranks
    task = torch.nn.Module()
    task.distributed_metrics = ("metrics", "binary")
    task.metrics, task.binary = ClassificationMetrics(4, top_k=2), BinaryMetrics()
    shard = slice(rank, None, 2)
    task.metrics.update(logits[shard], target[shard], torch.nn.functional.cross_entropy(logits[shard], target[shard]))
    task.binary.update(logits[shard, 0].sigmoid(), (target[shard] == 0).float())
    loader = torch.utils.data.DataLoader(range(25), sampler=ShardSampler(25, rank, 2, pad=False))
    distributed.DDPProcesses(rank, torch.device("cpu")).reduce_metrics(task, loader)
    results[rank] = (task.metrics.compute(), task.binary.compute(), task.metrics.pr_curves())
    dist.destroy_process_group()


@pytest.mark.slow  # two spawned interpreters importing torch: ~25 s on 2 busy cores
def test_metric_sums_and_kept_scores_are_reduced_over_two_gloo_processes():
    torch.manual_seed(0)
    logits, target = torch.randn(25, 4), torch.randint(0, 4, (25,))
    whole, binary = ClassificationMetrics(4, top_k=2), BinaryMetrics()
    for shard in (slice(0, None, 2), slice(1, None, 2)):  # the same per-rank loss means, summed over all samples
        whole.update(logits[shard], target[shard], torch.nn.functional.cross_entropy(logits[shard], target[shard]))
    binary.update(logits[:, 0].sigmoid(), (target == 0).float())
    results = mp.Manager().dict()
    mp.spawn(_reduce_on_rank, args=(_free_port(), results), nprocs=2)
    expected = whole.compute()
    for rank in (0, 1):
        reduced, reduced_binary, reduced_curves = results[rank]
        assert reduced["acc"] == expected["acc"] and reduced["acc_top2"] == expected["acc_top2"]
        assert all(torch.equal(reduced_curves[k], v) for k, v in whole.pr_curves().items())  # PR-curve counts
        assert reduced["loss"] == pytest.approx(expected["loss"], rel=1e-12)
        assert reduced_binary["roc_auc"] == pytest.approx(binary.compute()["roc_auc"], rel=1e-12)


class TwoOptimizerTask(Task):
    """Steps two optimizers itself, as a GAN does: a regressor, and a critic of its outputs that the
    regressor's loss also runs through (so one backward fills both models' gradients)."""

    automatic_optimization = False

    def __init__(self) -> None:
        super().__init__(torch.nn.Linear(4, 3), "two_optimizers", "val/loss", "min")
        self.critic = torch.nn.Linear(3, 1)

    def optimizer_groups(self) -> dict:
        return {"model": list(self.model.named_parameters()), "critic": list(self.critic.named_parameters())}

    def training_step(self, batch, batch_idx, optim) -> dict:
        inputs, target = batch
        output = self.model(inputs)
        loss = torch.nn.functional.mse_loss(output, target) + 0.1 * self.critic(output).mean()
        optim.backward(loss, "model")
        optim.step("model")
        optim.backward(self.critic(output.detach()).pow(2).mean(), "critic")
        optim.step("critic")
        return {"loss": loss.detach()}


def _two_optimizer_run(processes, rank: int, world_size: int) -> TwoOptimizerTask:
    """Four steps of TwoOptimizerTask on this rank's rows of four batches of 8, momentum SGD for both."""
    torch.manual_seed(rank)  # each rank builds its own initial weights: training must start from rank 0's
    task = TwoOptimizerTask()
    optim = Optimization({name: torch.optim.SGD([p for _, p in named], lr=0.1, momentum=0.9)
                          for name, named in task.optimizer_groups().items()}, {}, "cpu")
    step = processes.training_step(task, optim)
    processes.watch_preemption(Preemption([]))
    data = torch.Generator().manual_seed(42)
    for batch_idx in range(4):
        inputs, target = torch.randn(8, 4, generator=data), torch.randn(8, 3, generator=data)
        step((inputs[rank::world_size], target[rank::world_size]), batch_idx)
    processes.finish()
    return task


def _manual_steps_on_rank(rank: int, port: int, results) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    processes = distributed.DDPProcesses(rank, torch.device("cpu"))
    task = _two_optimizer_run(processes, rank, world_size=2)
    results[rank] = {name: value.clone() for name, value in task.state_dict().items()}
    task.data_parallel = False  # as StyleTransferTask: one image is the whole training set
    try:
        processes.training_step(task, None)
    except UserError as error:
        results[f"refused {rank}"] = str(error)
    dist.destroy_process_group()


@pytest.mark.slow  # two spawned interpreters importing torch
def test_a_task_stepping_two_optimizers_itself_takes_the_single_process_steps_on_two_gloo_ranks():
    single = _two_optimizer_run(distributed.SingleProcess(), rank=0, world_size=1).state_dict()
    results = mp.Manager().dict()
    mp.spawn(_manual_steps_on_rank, args=(_free_port(), results), nprocs=2)
    for rank in (0, 1):  # rank 1 began from other weights and saw other rows: rank 0's start, averaged gradients
        assert results[rank].keys() == single.keys()
        for name, value in single.items():
            torch.testing.assert_close(results[rank][name], value, rtol=1e-5, atol=1e-6)
        assert "nothing to split over processes" in results[f"refused {rank}"]
    assert not torch.allclose(single["critic.weight"], TwoOptimizerTask().critic.weight)  # the critic did train


@pytest.mark.slow
def test_a_gan_trains_under_ddp_and_its_frechet_distance_falls_as_in_one_process(tmp_path):
    """DCGAN on the digits, 2 gloo processes x 32 (the recipe's 64): Fréchet distance 2293 -> 56-60 in the last
    epochs (one process: 2294 -> 50; tests/generative/test_learning.py asserts < 0.2x there)."""
    result = torchrun("experiment=dcgan_digits", "logger=csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    (run_dir,) = run_dirs(tmp_path, "dcgan_digits")
    distances = column(metrics_rows(run_dir), "val/frechet_distance")
    assert len(distances) == 20 and statistics.mean(distances[-3:]) < 0.2 * distances[0], distances


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
