"""DistributedDataParallel for the trainer: one process per device, launched by torchrun.

``connect`` gives the trainer one of two objects with the same methods:
``SingleProcess`` (every method a no-op, nothing added per step) or
``DDPProcesses``, which

* joins the process group torchrun set up (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...),
  backend ``nccl`` on CUDA and ``gloo`` on the CPU unless ``trainer.backend`` says otherwise;
* shards every loader (``dltrain/engine/sharding.py``) and wraps the task's training step in
  DistributedDataParallel, so gradients are averaged over ranks during backward. The task
  itself, and ``task.model``, stay unwrapped: checkpoints, EMA and validation see the plain
  model (no ``module.`` prefix);
* all-reduces what a task's metrics are made of (sums, counts, confusion matrices) after a
  sharded evaluation pass, and the logged training loss;
* makes the ranks agree on the step at which a preemption signal stops them.

Rank 0 alone writes logs, progress bars and checkpoints; that is the trainer's business
(``is_zero``).
"""
from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from dltrain.engine.sharding import Shards, is_sharded
from dltrain.errors import UserError

log = logging.getLogger(__name__)

LAUNCH = "torchrun --nproc_per_node=N -m dltrain.cli trainer=ddp ..."


def launched_world_size() -> int:
    """How many processes torchrun (or another launcher setting WORLD_SIZE) started for this run."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def connect(strategy: str, backend: str, device: torch.device, **ddp_options: Any) -> tuple[Any, torch.device]:
    """The trainer's view of the processes of this run, and the device this process trains on."""
    if strategy not in ("single", "ddp"):
        raise UserError(f"trainer.strategy={strategy} is not one of single, ddp (trainer=ddp sets ddp).")
    if strategy == "single":
        if launched_world_size() > 1:
            raise UserError(
                f"This process is one of {launched_world_size()} started by torchrun, but the trainer is not "
                f"distributed: add trainer=ddp ({LAUNCH}), or run plain `dltrain` without torchrun."
            )
        return SingleProcess(), device
    if "RANK" not in os.environ:
        raise UserError(f"trainer=ddp runs one process per device, started by torchrun: {LAUNCH} "
                        "(dltrain --help performance, 'Many devices').")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if ddp_options.get("sync_batchnorm") and device.type != "cuda":  # before any process joins a group
        raise UserError(f"trainer.sync_batchnorm=true needs CUDA devices (PyTorch's SyncBatchNorm runs on CUDA "
                        f"only), and this run trains on {device.type}; leave it false (each process then "
                        "normalises with the statistics of its own part of the batch).")
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
        atexit.register(_destroy)
    return DDPProcesses(local_rank, device, **ddp_options), device


def _flat_in_place(tensors: list[torch.Tensor], collective: Callable[[torch.Tensor], None]) -> None:
    """Run ``collective`` on all of ``tensors`` at once (one flat tensor per dtype: one message, not one per
    tensor) and write its result back into them."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for tensor in tensors:
        by_dtype.setdefault(tensor.dtype, []).append(tensor)
    with torch.no_grad():
        for same_dtype in by_dtype.values():
            flat = torch.cat([t.reshape(-1) for t in same_dtype])
            collective(flat)
            for tensor, value in zip(same_dtype, flat.split([t.numel() for t in same_dtype])):
                tensor.copy_(value.view_as(tensor))


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class SingleProcess:
    """One process: nothing to shard, reduce or agree on."""

    rank, world_size, is_zero = 0, 1, True

    def shard(self, data: Any, task: nn.Module) -> None: ...

    def training_step(self, task: nn.Module, optim: Any) -> Callable:
        """``step(batch, batch_idx)`` for the trainer's loop; a task that steps its optimizers gets ``optim``."""
        if task.automatic_optimization:
            return task.training_step
        return lambda batch, batch_idx: task.training_step(batch, batch_idx, optim)

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def reduce_metrics(self, task: nn.Module, loader: Any) -> None: ...

    def broadcast_object(self, value: Any) -> Any:
        return value

    def gather_object(self, value: Any) -> list[Any]:
        return [value]

    def watch_preemption(self, preemption: Any) -> None: ...

    def agree_on_preemption(self) -> None: ...

    def barrier(self) -> None: ...

    def finish(self) -> None: ...


class DDPProcesses(SingleProcess):
    def __init__(self, local_rank: int, device: torch.device, sync_batchnorm: bool = False,
                 find_unused_parameters: bool = False) -> None:
        self.rank, self.world_size, self.is_zero = dist.get_rank(), dist.get_world_size(), dist.get_rank() == 0
        self.local_rank, self.device = local_rank, device
        self.sync_batchnorm, self.find_unused_parameters = sync_batchnorm, find_unused_parameters
        self.preemption = None
        self._flag_group = None  # a CPU (gloo) group for the preemption flag: no CUDA synchronisation per step
        self._flag = torch.zeros(1, dtype=torch.int32)
        self._pending = None

    # ------------------------------------------------------------ data and model
    def shard(self, data: Any, task: nn.Module) -> None:
        """Each rank loads its slice of every epoch; evaluation too when the task's metrics can be reduced."""
        data.shards = Shards(self.rank, self.world_size, shard_eval=_metric_objects(task) is not None)
        if not is_sharded(data.train_dataloader(0)):
            raise UserError(
                f"{type(data).__name__}'s training loader does not shard across processes, so every rank would "
                "train on the whole data set; under trainer=ddp use a data module built on DataModule._loader "
                "(the default loaders are)."
            )

    def training_step(self, task: nn.Module, optim: Any) -> Callable:
        """The task's training step with gradients averaged over ranks: inside DistributedDataParallel, or, for
        a task that steps its optimizers itself, by ``optim`` just before each optimizer steps."""
        if not task.data_parallel:
            raise UserError(f"{type(task).__name__} trains on one sample (the image it optimises): there is "
                            "nothing to split over processes; train it with a single process (trainer=default).")
        if self.sync_batchnorm:
            nn.SyncBatchNorm.convert_sync_batchnorm(task)  # in place: same parameters, same state_dict keys
        if not task.automatic_optimization:
            return self._manual_training_step(task, optim)
        ddp = nn.parallel.DistributedDataParallel(
            _TrainingStep(task), device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=self.find_unused_parameters,
        )  # broadcasts rank 0's weights and buffers: every rank starts identical

        def step(batch: Any, batch_idx: int) -> Any:
            # inside an accumulation window gradients stay local; only the window's last backward averages them
            ddp.require_backward_grad_sync = optim.is_boundary
            self._exchange_preemption_flag()
            return ddp(batch, batch_idx)

        return step

    def _manual_training_step(self, task: nn.Module, optim: Any) -> Callable:
        """GANs, CycleGAN / pix2pix, Mean Teacher: several optimizers, several forwards and backwards per step,
        gradient penalties (double backward). DistributedDataParallel's one-backward-per-forward hooks do not fit
        these, so this does what it does in the open: start every rank from rank 0's weights, use rank 0's
        buffers (BatchNorm statistics) in every step, and average each optimizer's gradients over the ranks, in
        one all-reduce, when it steps. The ranks then take identical steps, as under DDP (without DDP's overlap
        of the all-reduce with backward). A gradient the task did not compute on any rank stays None (the ranks
        run the same code, so they agree on which)."""
        buffers = list(task.buffers())
        self._broadcast(list(task.parameters()) + buffers)
        optim.reduce_gradients = self._average

        def step(batch: Any, batch_idx: int) -> Any:
            self._broadcast(buffers)
            self._exchange_preemption_flag()
            return task.training_step(batch, batch_idx, optim)

        return step

    def _average(self, gradients: list[torch.Tensor]) -> None:
        """Each gradient becomes its mean over the ranks."""
        def mean(flat: torch.Tensor) -> None:
            dist.all_reduce(flat)
            flat /= self.world_size

        _flat_in_place(gradients, mean)

    def _broadcast(self, tensors: list[torch.Tensor]) -> None:
        """Rank 0's values of ``tensors`` on every rank."""
        _flat_in_place(tensors, lambda flat: dist.broadcast(flat, src=0))

    # ----------------------------------------------------------------- reductions
    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.detach().clone()
        dist.all_reduce(tensor)
        return tensor / self.world_size

    def reduce_metrics(self, task: nn.Module, loader: Any) -> None:
        """After a sharded pass: sum each metric's declared sums / counts over ranks, gather its kept scores."""
        if not is_sharded(loader):
            return  # every rank evaluated the whole split
        for metric in _metric_objects(task):
            for name in metric.summed_state:
                value = getattr(metric, name)
                tensor = value.to(self.device) if torch.is_tensor(value) else torch.tensor(value, device=self.device)
                dist.all_reduce(tensor)
                setattr(metric, name, tensor if torch.is_tensor(value) else tensor.item())
            for name in getattr(metric, "gathered_state", ()):
                parts: list[Any] = [None] * self.world_size
                dist.all_gather_object(parts, [t.cpu() for t in getattr(metric, name)])
                setattr(metric, name, [t.to(self.device) for part in parts for t in part])

    def broadcast_object(self, value: Any) -> Any:
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_object(self, value: Any) -> list[Any]:
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, value)
        return parts

    def barrier(self) -> None:
        dist.barrier()

    # ----------------------------------------------------------------- preemption
    def watch_preemption(self, preemption: Any) -> None:
        """The ranks exchange 'did you get a signal?' every micro-batch, asynchronously: the answer of step k is
        read at step k + 1, so all ranks stop at the same step without waiting for each other."""
        preemption.decide_locally = False
        self.preemption = preemption
        if self._flag_group is None:
            self._flag_group = dist.new_group(backend="gloo")

    def _exchange_preemption_flag(self) -> None:
        if self._pending is not None:
            self._pending.wait()
            if self._flag.item():
                self.preemption.requested = True
        self._flag.fill_(self.preemption.received is not None)
        self._pending = dist.all_reduce(self._flag, group=self._flag_group, async_op=True)

    def agree_on_preemption(self) -> None:
        """At an epoch's end: settle the exchange now (blocking, once per epoch)."""
        self._exchange_preemption_flag()
        self._pending.wait()
        self.preemption.requested = self.preemption.requested or bool(self._flag.item())
        self._pending = None

    def finish(self) -> None:
        """End of fit: no exchange left in flight; every rank has passed rank 0's last checkpoint write."""
        if self._pending is not None:
            self._pending.wait()
            self._pending = None
        dist.barrier()


class _TrainingStep(nn.Module):
    """DistributedDataParallel calls ``forward``; the task's training step is what a forward means here."""

    def __init__(self, task: nn.Module) -> None:
        super().__init__()
        self.task = task

    def forward(self, batch: Any, batch_idx: int) -> Any:
        return self.task.training_step(batch, batch_idx)


def _metric_objects(task: nn.Module) -> list[Any] | None:
    """The metric accumulators a task names in ``distributed_metrics``, each declaring its ``summed_state``
    (and optionally ``gathered_state``); None when the task declares none (then evaluation is not sharded)."""
    metrics = [getattr(task, name) for name in task.distributed_metrics]
    if not metrics or not all(hasattr(m, "summed_state") for m in metrics):
        return None
    return metrics
