"""The one training loop, for every task family. Read it top to bottom.

    fit():  prepare device / precision / optimizers -> (resume) ->
            for each epoch: train one epoch -> validate -> callbacks (checkpoint, early stop)

The trainer owns everything a task should not care about: device, mixed
precision, torch.compile and channels_last, gradient accumulation and
clipping, step / epoch limits, validation cadence, checkpoints, logging,
progress bars, seeding and determinism, DDP (``dltrain/engine/distributed.py``: one
process per device, rank 0 logs and saves) and preemption
(``dltrain/engine/preemption.py``: SIGTERM / SIGUSR1 save a mid-epoch checkpoint and
exit). What a checkpoint holds, restoring from one and writing it are the
``RunState``'s (``dltrain/checkpoint/run_state.py``). Tasks only say what a batch
means (``dltrain/tasks/base.py``).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dltrain.checkpoint.run_state import RunState
from dltrain.engine import console, distributed, model_facts
from dltrain.engine.best import BestScore
from dltrain.engine.callbacks import Callback
from dltrain.engine.environment import pick_device, seed_everything, set_determinism
from dltrain.engine.loggers import LoggerGroup
from dltrain.engine.loss_guard import LossGuard
from dltrain.engine.optimization import Optimization, autocast
from dltrain.engine.picture_schedule import PictureSchedule
from dltrain.engine.preemption import Preempted, Preemption
from dltrain.errors import UserError
from dltrain.tasks.base import Task

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    metrics: dict[str, float]  # the last epoch's
    best: float | None         # the best value of the task's monitored metric, and the epoch (1-based) it came from
    best_epoch: int | None
    best_metrics: dict[str, float] = field(default_factory=dict)  # all metrics of that epoch (HPARAMS shows them)
    best_step: int | None = None  # the optimizer step at the end of that epoch


class Trainer:
    def __init__(
        self,
        run_dir: str | Path,
        loggers: Iterable = (),
        callbacks: Iterable[Callback] = (),
        seed: int = 0,
        config_yaml: str = "",
        accelerator: str = "auto",
        precision: str = "32",
        max_epochs: int = 20,
        max_steps: int = -1,
        accumulate_grad_batches: int = 1,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str = "norm",
        limit_train_batches: int | float | None = None,
        limit_val_batches: int | float | None = None,
        val_every_n_epochs: int = 1,
        log_every_n_steps: int = 10,
        compile: bool = False,
        channels_last: bool = False,
        deterministic: bool = False,
        log_histograms: bool = True,
        visuals_every_n_validations: int = 10,
        visuals_time_share: float | None = 0.05,
        visuals_at_last_epoch: bool = True,
        enable_checkpointing: bool = True,
        enable_progress_bar: bool = True,
        num_threads: int | None = None,
        fast_dev_run: int = 0,
        preemption_signals: Iterable[str] = ("SIGTERM", "SIGUSR1"),
        strategy: str = "single",
        backend: str = "auto",
        sync_batchnorm: bool = False,
        find_unused_parameters: bool = False,
        async_checkpoint: bool = True,
        loss_explosion_factor: float | None = 1e4,
    ) -> None:
        if str(precision) not in ("32", "bf16", "fp16"):
            raise UserError(f"trainer.precision={precision} is not one of 32, bf16, fp16.")
        if gradient_clip_algorithm not in ("norm", "value"):
            raise UserError(f"trainer.gradient_clip_algorithm={gradient_clip_algorithm} is not one of norm, value.")
        self.run_dir = Path(run_dir)
        self.dist, self.device = distributed.connect(strategy, backend, pick_device(accelerator),
                                                     sync_batchnorm=sync_batchnorm,
                                                     find_unused_parameters=find_unused_parameters)
        self.is_global_zero = self.dist.is_zero  # rank 0 (or the only process) logs and writes checkpoints
        self.loggers = LoggerGroup(list(loggers) if self.is_global_zero else [])
        self.callbacks = sorted(callbacks, key=lambda cb: cb.order)
        self.seed = seed
        self.precision = str(precision)
        self.max_epochs, self.max_steps = max_epochs, max_steps
        self.accumulate_grad_batches = accumulate_grad_batches
        self.gradient_clip_val, self.gradient_clip_algorithm = gradient_clip_val, gradient_clip_algorithm
        self.limit_train_batches, self.limit_val_batches = limit_train_batches, limit_val_batches
        self.val_every_n_epochs, self.log_every_n_steps = val_every_n_epochs, log_every_n_steps
        self.compile, self.channels_last, self.deterministic = compile, channels_last, deterministic
        self.log_histograms = log_histograms
        # which validations draw pictures (build_trainer: the last epoch's only when no test pass draws after it;
        # trainer=debug's one validation always, so its check covers the pictures)
        self.pictures = PictureSchedule(visuals_every_n_validations, visuals_time_share,
                                        visuals_at_last_epoch or bool(fast_dev_run))
        self.enable_checkpointing, self.enable_progress_bar = enable_checkpointing, enable_progress_bar
        self.fast_dev_run = fast_dev_run
        if fast_dev_run:  # trainer=debug: wins over an experiment's epochs and limits, which compose after it
            self.max_epochs, self.max_steps = 1, -1
            self.limit_train_batches = self.limit_val_batches = fast_dev_run
            self.enable_checkpointing, self.log_histograms = False, False
        if num_threads:  # small models on a busy CPU run faster on one thread than on two that wait
            torch.set_num_threads(num_threads)
        self.epoch = 0
        self.global_step = 0
        self.should_stop = False
        self.optim: Optimization | None = None
        self.best: BestScore | None = None  # of the task's monitored metric, set by fit
        self.last_metrics: dict[str, float] = {}
        self.model_facts: dict[str, int] = {}  # parameters and FLOPs, filled at the start of fit
        self.preemption = Preemption(preemption_signals)
        self.run_state = RunState(self.run_dir, config_yaml, enabled=self.enable_checkpointing,
                                  background=async_checkpoint)
        self.batches_done = 0  # of the current epoch, and their summed training loss: where a mid-epoch
        self.epoch_loss_sum: torch.Tensor | None = None  # checkpoint resumes
        self.loss_guard = LossGuard(self.dist, self.run_state.folder, loss_explosion_factor)
        self.show_progress = enable_progress_bar and self.is_global_zero
        self._training_step: Callable = None  # (batch, batch_idx) -> the task's step output; DDP's when distributed

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        task: Task,
        data: Any,
        optimizer: Callable,
        scheduler: Callable,
        decay_norm_and_bias: bool = False,
        ckpt_path: str | Path | None = None,
    ) -> FitResult:
        # training starts from a known RNG state, whatever building the model drew; under DDP each rank draws
        # its own dropout / augmentation (the initial weights are rank 0's, broadcast when the distributed step is built)
        seed_everything(self.seed + self.dist.rank)
        set_determinism(self.deterministic)
        self.prepare(task)
        self.dist.shard(data, task)  # DDP: each process loads its own slice of every epoch
        steps_per_epoch = math.ceil(self._num_batches(len(data.train_dataloader(0)), self.limit_train_batches)
                                    / self.accumulate_grad_batches)
        total_steps = self.max_steps if self.max_steps > 0 else steps_per_epoch * self.max_epochs
        self.optim = Optimization.build(
            task.optimizer_groups(), optimizer, scheduler, total_steps, steps_per_epoch,
            decay_norm_and_bias=decay_norm_and_bias, device_type=self.device.type, precision=self.precision,
            accumulate_grad_batches=self.accumulate_grad_batches,
            gradient_clip_val=self.gradient_clip_val if self.gradient_clip_val is not None else task.default_gradient_clip_val,
            gradient_clip_algorithm=self.gradient_clip_algorithm,
        )
        self.best = BestScore(task.monitor, task.monitor_mode)
        # before restoring RNG state: it iterates a loader, which draws a seed
        self.model_facts = model_facts.log_summary(task, self.to_device(next(iter(data.val_dataloader()))), self)
        ckpt_path = self.dist.broadcast_object(ckpt_path)  # every rank resumes from the file rank 0 resolved
        start_epoch = self.run_state.restore(ckpt_path, self, task, total_steps) if ckpt_path else 0
        # a run continued in its own directory: the logs after the checkpoint's step were never kept
        self.loggers.setup(self.run_dir, resume_step=self.global_step if ckpt_path else None)
        self._training_step = self.dist.training_step(task, self.optim)
        self.dist.watch_preemption(self.preemption)
        if self.is_global_zero:
            self.run_state.start_writing()
        for callback in self.callbacks:
            callback.on_fit_start(self, task)
        try:
            self._epochs(task, data, start_epoch)
        finally:  # no process leaves fit, at its end or by an error, with its own checkpoint write half done
            self.run_state.wait()
        self.dist.finish()
        return FitResult(self.last_metrics, self.best.value, self.best.epoch, dict(self.best.metrics or {}),
                         self.best.step)

    def _epochs(self, task: Task, data: Any, start_epoch: int) -> None:
        """For each epoch: train -> validate -> callbacks (checkpoint, early stop); until the last or a stop."""
        epochs = console.bar(range(start_epoch, self.max_epochs), self.show_progress, desc="epochs",
                             initial=start_epoch, total=self.max_epochs)
        self.pictures.start()
        with self.preemption.handling_signals():
            for self.epoch in epochs:
                started = time.perf_counter()
                metrics = self.train_epoch(task, data.train_dataloader(self.epoch))
                validates = (self.epoch + 1) % self.val_every_n_epochs == 0 or self._is_last_epoch()
                validation = (self.epoch + 1) // self.val_every_n_epochs if validates else 0  # counted from 1
                if validates:
                    draws = self.pictures.due(validation, self._is_last_epoch())
                    metrics |= self.validate(task, data.val_dataloader(), visuals=draws)
                    self.optim.step_plateau(metrics, task.monitor)
                metrics["epoch"] = self.epoch + 1  # 1-based, as the console, best_epoch and metrics.csv count
                # wall time of the epoch, its validation included; under train/: TensorBoard's first sections
                # are train/ and val/ (it orders sections by name, and a time/ section would come between them)
                metrics["train/epoch_time_s"] = time.perf_counter() - started
                self.best.update(metrics, self.epoch + 1, self.global_step)
                self.loggers.log_metrics(metrics, self.global_step)
                if self.log_histograms and self.pictures.at_cadence(validation, self._is_last_epoch()):
                    self.log_weight_histograms(task)
                self.last_metrics = metrics  # what this epoch's checkpoint stores
                for callback in self.callbacks:
                    callback.on_epoch_end(self, task, metrics)
                self.loggers.flush()
                log.info("epoch %d/%d  %s", self.epoch + 1, self.max_epochs, console.epoch_line(metrics))
                epochs.set_postfix(console.epoch_postfix(metrics, task.monitor))
                if self.stops_after_this_epoch():
                    break
                self.dist.agree_on_preemption()
                if self.preemption.requested:  # a signal during this epoch's last step or its validation
                    self.preempt(task, mid_epoch=False)
        epochs.close()

    def train_epoch(self, task: Task, loader: Iterable) -> dict[str, float]:
        task.train()
        limit = self._num_batches(len(loader), self.limit_train_batches)
        batches, first, self.epoch_loss_sum = self.run_state.resume_batches(iter(loader), self.device)
        batches = console.bar(batches, self.show_progress, desc=f"epoch {self.epoch + 1}", initial=first,
                              total=limit, leave=False)
        batch_idx = first - 1
        for batch_idx, batch in enumerate(batches, start=first):
            if batch_idx >= limit or (0 < self.max_steps <= self.global_step):
                break
            batch = self.to_device(batch)
            window_position = batch_idx % self.accumulate_grad_batches
            self.optim.is_window_start = window_position == 0
            self.optim.is_boundary = window_position == self.accumulate_grad_batches - 1 or batch_idx == limit - 1

            with self.optim.autocast():
                output = self._training_step(batch, batch_idx)
            loss, extra_logs = _unpack(output)
            if task.automatic_optimization:
                self.optim.backward(loss)
                self.optim.step()
            self.optim.end_iteration()
            self.epoch_loss_sum += loss.detach().float()
            self.batches_done = batch_idx + 1
            self.loss_guard.add(self.global_step + 1, loss)

            if self.optim.is_boundary:
                self.global_step += 1
                for callback in self.callbacks:
                    callback.on_train_step_end(self, task)
                if self.global_step % self.log_every_n_steps == 0:
                    value = self.loss_guard.check(self.epoch + 1)  # the one synchronisation per logging interval
                    self.loggers.log_metrics({"train/loss": value, **console.floats(extra_logs)}, self.global_step)
                    batches.set_postfix({"loss": f"{value:.4g}",
                                         **console.learning_rate_postfix(self.optim.learning_rates())})
                if self.preemption.requested and batch_idx + 1 < limit:  # at the last batch the epoch end saves
                    batches.close()
                    self.preempt(task, mid_epoch=True)
        batches.close()
        self.loss_guard.check(self.epoch + 1)
        seen = min(limit, batch_idx + 1) if limit else 0
        self.batches_done = 0
        return {"train/loss_epoch": self.dist.mean(self.epoch_loss_sum / max(seen, 1)).item()}

    @torch.no_grad()
    def validate(self, task: Task, loader: Iterable, prefix: str = "val", visuals: bool = True) -> dict[str, float]:
        for callback in self.callbacks:
            callback.on_validation_start(self, task)
        task.eval()
        limit = self._num_batches(len(loader), self.limit_val_batches)
        for batch_idx, batch in enumerate(console.bar(loader, self.show_progress, desc=prefix, total=limit,
                                                      leave=False)):
            if batch_idx >= limit:
                break
            with autocast(self.device.type, self.precision):  # mode=eval too: the precision the run trained in
                task.validation_step(self.to_device(batch), batch_idx)
        self.dist.reduce_metrics(task, loader)  # DDP: sums and counts of every rank's slice
        metrics = task.compute_metrics(prefix)
        if visuals and self.loggers.loggers:  # drawing images nobody will see costs more than a small model's epoch
            with self.pictures.drawing():
                task.log_visuals(self.loggers, self.global_step, prefix)
        task.reset_metrics()
        for callback in self.callbacks:
            callback.on_validation_end(self, task)
        return metrics

    def test(self, task: Task, data: Any) -> dict[str, float]:
        """Metrics of the test split (``mode=eval``, and after training)."""
        self.prepare(task)
        self.dist.shard(data, task)
        metrics = self.validate(task, data.test_dataloader(), prefix="test")
        self.loggers.log_metrics(metrics, self.global_step)
        self.loggers.flush()
        return metrics

    # --------------------------------------------------------- the pieces
    def prepare(self, task: Task) -> None:
        """Move the task to the device (and tell it whether this is a quick check), then apply channels_last and
        torch.compile."""
        task.to(self.device)
        task.quick_check = bool(self.fast_dev_run)  # trainer=debug: no beam search, short samples (tasks/base.py)
        if self.channels_last:
            task.to(memory_format=torch.channels_last)
        if self.compile and not getattr(task.model, "_dltrain_compiled", False):
            task.model.compile()  # in place: state_dict keys keep their names (no _orig_mod.)
            task.model._dltrain_compiled = True

    def to_device(self, batch: Any) -> Any:
        """Move every tensor in a batch (tuples, lists, dicts, nested) to the device."""
        if self.device.type == "cpu" and not self.channels_last:
            return batch  # loaders already yield CPU tensors: walking the batch would be per-step overhead only
        if isinstance(batch, torch.Tensor):
            batch = batch.to(self.device, non_blocking=True)
            if self.channels_last and batch.ndim == 4 and batch.is_floating_point():
                batch = batch.contiguous(memory_format=torch.channels_last)
            return batch
        if isinstance(batch, dict):
            return {k: self.to_device(v) for k, v in batch.items()}
        if isinstance(batch, (list, tuple)):
            return type(batch)(self.to_device(v) for v in batch)
        return batch

    def stop(self, reason: str) -> None:
        log.info("stopping: %s", reason)
        self.should_stop = True

    def preempt(self, task: Task, mid_epoch: bool) -> None:
        """Save a resumable last.ckpt at this optimizer step, then stop the run (``Preempted``)."""
        path = self.run_state.save(self, task, ["last.ckpt"], mid_epoch=mid_epoch)
        self.run_state.wait()
        self.dist.barrier()  # no rank exits before rank 0's checkpoint is on disk
        where = f"epoch {self.epoch + 1} after batch {self.batches_done}" if mid_epoch else \
            f"the end of epoch {self.epoch + 1}"
        saved = f"saved {path} at {where} (step {self.global_step})" if path else \
            "no checkpoint saved (trainer.enable_checkpointing=false)"
        log.warning("%s received: %s; resume with ckpt_path=last", self.preemption.received or "a signal", saved)
        raise Preempted(f"preempted at step {self.global_step}; {saved}", path, self.preemption.received)

    def log_weight_histograms(self, task: Task) -> None:
        # sections named after "val": TIME SERIES, TensorBoard's first tab, orders them by name below the curves
        for name, parameter in task.named_weight_tensors():
            self.loggers.log_histogram(f"weights/{name}", parameter, self.global_step)
            if parameter.grad is not None:
                self.loggers.log_histogram(f"weights_grad/{name}", parameter.grad, self.global_step)

    def _num_batches(self, available: int, limit: int | float | None) -> int:
        if limit is None:
            return available
        if isinstance(limit, float) and limit <= 1.0:
            return max(1, int(available * limit))
        return min(available, int(limit))

    def stops_after_this_epoch(self) -> bool:
        return self.should_stop or (0 < self.max_steps <= self.global_step) or self._is_last_epoch()

    def _is_last_epoch(self) -> bool:
        return self.epoch + 1 == self.max_epochs


def _unpack(output: Any) -> tuple[torch.Tensor, dict[str, Any]]:
    if isinstance(output, dict):
        return output["loss"], output.get("log", {})
    return output, {}
