"""The one training loop, for every task family. Read it top to bottom.

    fit():  prepare device / precision / optimizers -> (resume) ->
            for each epoch: train one epoch -> validate -> callbacks (checkpoint, early stop)

The trainer owns everything a task should not care about: device, mixed
precision, torch.compile and channels_last, gradient accumulation and
clipping, step / epoch limits, validation cadence, checkpoints, logging,
progress bars, seeding and determinism, DDP (``dltrain/distributed.py``: one
process per device, rank 0 logs and saves) and preemption
(``dltrain/preemption.py``: SIGTERM / SIGUSR1 save a mid-epoch checkpoint and
exit). Tasks only say what a batch means (``dltrain/tasks/base.py``).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from dltrain import checkpoint, distributed
from dltrain.callbacks import Callback
from dltrain.environment import pick_device, seed_everything, set_determinism
from dltrain.errors import UserError
from dltrain.loggers import LoggerGroup
from dltrain.optimization import Optimization
from dltrain.preemption import Preempted, Preemption
from dltrain.summary import count_flops, count_parameters, human
from dltrain.tasks.base import Task

log = logging.getLogger(__name__)


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
        enable_checkpointing: bool = True,
        enable_progress_bar: bool = True,
        num_threads: int | None = None,
        fast_dev_run: int = 0,
        preemption_signals: Iterable[str] = ("SIGTERM", "SIGUSR1"),
        strategy: str = "single",
        backend: str = "auto",
        sync_batchnorm: bool = False,
        find_unused_parameters: bool = False,
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
        self.seed, self.config_yaml = seed, config_yaml
        self.precision = str(precision)
        self.max_epochs, self.max_steps = max_epochs, max_steps
        self.accumulate_grad_batches = accumulate_grad_batches
        self.gradient_clip_val, self.gradient_clip_algorithm = gradient_clip_val, gradient_clip_algorithm
        self.limit_train_batches, self.limit_val_batches = limit_train_batches, limit_val_batches
        self.val_every_n_epochs, self.log_every_n_steps = val_every_n_epochs, log_every_n_steps
        self.compile, self.channels_last, self.deterministic = compile, channels_last, deterministic
        self.log_histograms = log_histograms
        self.enable_checkpointing, self.enable_progress_bar = enable_checkpointing, enable_progress_bar
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
        self.last_metrics: dict[str, float] = {}
        self.model_facts: dict[str, int] = {}  # parameters and FLOPs, filled by log_summary
        self.preemption = Preemption(preemption_signals)
        self.resumed_from: Path | None = None
        self._resume_position: dict[str, Any] | None = None  # set by restore() from a mid-epoch checkpoint
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
    ) -> dict[str, float]:
        # training starts from a known RNG state, whatever building the model drew; under DDP each rank draws
        # its own dropout / augmentation (the initial weights are rank 0's, broadcast when the distributed step is built)
        seed_everything(self.seed + self.dist.rank)
        set_determinism(self.deterministic)
        self.loggers.setup(self.run_dir)
        self.prepare(task)
        self.dist.shard(data, task)  # DDP: each process loads its own slice of every epoch
        steps_per_epoch = math.ceil(self._num_batches(len(data.train_dataloader(0)), self.limit_train_batches)
                                    / self.accumulate_grad_batches)
        total_steps = self.max_steps if self.max_steps > 0 else steps_per_epoch * self.max_epochs
        self.optim = Optimization.build(
            task.optimizer_groups(), optimizer, scheduler, total_steps, steps_per_epoch,
            decay_norm_and_bias=decay_norm_and_bias, device_type=self.device.type, precision=self.precision,
            accumulate_grad_batches=self.accumulate_grad_batches,
            gradient_clip_val=self._clip_value(task), gradient_clip_algorithm=self.gradient_clip_algorithm,
        )
        self.log_summary(task, data)  # before restoring RNG state: it iterates a loader, which draws a seed
        ckpt_path = self.dist.broadcast_object(ckpt_path)  # every rank resumes from the file rank 0 resolved
        start_epoch = self.restore(ckpt_path, task, total_steps) if ckpt_path else 0
        self._training_step = self.dist.training_step(task, self.optim)
        self.dist.watch_preemption(self.preemption)
        for callback in self.callbacks:
            callback.on_fit_start(self, task)

        epochs = tqdm(range(start_epoch, self.max_epochs), desc="epochs", initial=start_epoch,
                      total=self.max_epochs, disable=self._bar_disabled(), dynamic_ncols=True)
        with self.preemption.handling_signals():
            for self.epoch in epochs:
                started = time.perf_counter()
                metrics = self.train_epoch(task, data.train_dataloader(self.epoch))
                if (self.epoch + 1) % self.val_every_n_epochs == 0 or self._is_last_epoch():
                    metrics |= self.validate(task, data.val_dataloader())
                    self.optim.step_plateau(metrics, task.monitor)
                metrics["epoch"] = self.epoch
                metrics["time/epoch_s"] = time.perf_counter() - started
                self.loggers.log_metrics(metrics, self.global_step)
                if self.log_histograms:
                    self.log_weight_histograms(task)
                for callback in self.callbacks:
                    callback.on_epoch_end(self, task, metrics)
                self.loggers.flush()
                self.last_metrics = metrics
                log.info("epoch %d/%d  %s", self.epoch + 1, self.max_epochs, _format(metrics))
                epochs.set_postfix(_short(metrics, task.monitor))
                if self.should_stop or (0 < self.max_steps <= self.global_step) or self._is_last_epoch():
                    break
                self.dist.agree_on_preemption()
                if self.preemption.requested:  # a signal during this epoch's last step or its validation
                    self.preempt(task, batches_done=0, epoch_loss_sum=None)
        epochs.close()
        self.dist.finish()
        return self.last_metrics

    def train_epoch(self, task: Task, loader: Iterable) -> dict[str, float]:
        task.train()
        limit = self._num_batches(len(loader), self.limit_train_batches)
        batches, first, loss_sum = self._resume_batches(iter(loader))
        window: list[tuple[int, torch.Tensor]] = []  # (step, loss) since the last log, checked for NaN / Inf
        batches = tqdm(batches, desc=f"epoch {self.epoch + 1}", initial=first, total=limit, leave=False,
                       disable=self._bar_disabled(), dynamic_ncols=True)
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
            loss_sum += loss.detach().float()
            window.append((self.global_step + 1, loss.detach()))

            if self.optim.is_boundary:
                self.global_step += 1
                for callback in self.callbacks:
                    callback.on_train_step_end(self, task)
                if self.global_step % self.log_every_n_steps == 0:
                    value = self.check_finite(window)  # the one synchronisation per logging interval
                    window.clear()
                    self.loggers.log_metrics({"train/loss": value, **_floats(extra_logs)}, self.global_step)
                    batches.set_postfix({"loss": f"{value:.4g}", **_lr_postfix(self.optim)})
                if self.preemption.requested and batch_idx + 1 < limit:  # at the last batch the epoch end saves
                    batches.close()
                    self.preempt(task, batches_done=batch_idx + 1, epoch_loss_sum=loss_sum)
        batches.close()
        self.check_finite(window)
        seen = min(limit, batch_idx + 1) if limit else 0
        return {"train/loss_epoch": self.dist.mean(loss_sum / max(seen, 1)).item()}

    def _resume_batches(self, batches: Iterator) -> tuple[Iterator, int, torch.Tensor]:
        """The epoch's batch iterator, the index of its first batch and the running loss sum.

        After a mid-epoch checkpoint the batches the interrupted run trained on are fetched and dropped (the
        order is a function of seed + epoch, so they are the same ones; fetching them also advances loader
        workers' augmentation RNG exactly), then the RNG state of the moment of the checkpoint is restored.
        """
        position, self._resume_position = self._resume_position, None
        if position is None:
            return batches, 0, torch.zeros((), device=self.device)
        for _ in range(position["batches_done"]):
            next(batches)
        checkpoint.restore_rng(position["rng"])
        return batches, position["batches_done"], position["epoch_loss_sum"].to(self.device)

    @torch.no_grad()
    def validate(self, task: Task, loader: Iterable, prefix: str = "val") -> dict[str, float]:
        for callback in self.callbacks:
            callback.on_validation_start(self, task)
        task.eval()
        limit = self._num_batches(len(loader), self.limit_val_batches)
        for batch_idx, batch in enumerate(tqdm(loader, desc=prefix, total=limit, leave=False,
                                                disable=self._bar_disabled(), dynamic_ncols=True)):
            if batch_idx >= limit:
                break
            with self.optim.autocast() if self.optim else torch.autocast(self.device.type, enabled=False):
                task.validation_step(self.to_device(batch), batch_idx)
        self.dist.reduce_metrics(task, loader)  # DDP: sums and counts of every rank's slice
        metrics = task.compute_metrics(prefix)
        if self.loggers.loggers:  # drawing images nobody will see costs more than a small model's epoch
            task.log_visuals(self.loggers, self.global_step, prefix)
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
        """Move the task to the device, then apply channels_last and torch.compile."""
        task.to(self.device)
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

    def check_finite(self, window: list[tuple[int, torch.Tensor]]) -> float | None:
        """Stop on the first NaN / Inf loss of the window, naming its step; no checkpoint is written.

        Returns the window's last loss (under DDP: averaged over ranks, so a NaN on any rank stops all of them).
        """
        if not window:
            return None
        losses = self.dist.mean(torch.stack([loss for _, loss in window]).float())
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad) == 0:
            return losses[-1].item()
        first = int(bad[0])
        step = window[first][0]
        last = self.run_dir / "checkpoints" / "last.ckpt"
        kept = f"the last good checkpoint {last} is intact" if last.exists() else "no checkpoint was written"
        raise UserError(
            f"The training loss became {losses[first].item()} at step {step} (epoch {self.epoch + 1}); {kept}. "
            "Lower optimizer.lr, set trainer.gradient_clip_val=1.0, or use trainer.precision=32."
        )

    def checkpoint_state(self, task: Task, metrics: dict[str, float], batches_done: int = 0,
                         epoch_loss_sum: torch.Tensor | None = None) -> dict[str, Any]:
        """Everything an exact resume needs. Called on every rank (each contributes its RNG state)."""
        own = {"rng": checkpoint.capture_rng()}  # what differs between DDP ranks
        if batches_done:  # a mid-epoch (preemption) checkpoint: this rank's running loss of the epoch
            own["epoch_loss_sum"] = epoch_loss_sum.detach().cpu()
        state = {
            "model": task.model.state_dict(),
            "task": task.extra_state(),
            "optim": self.optim.state_dict(),
            "epoch": self.epoch + (0 if batches_done else 1),  # epochs completed
            "global_step": self.global_step,
            **own,
            "callbacks": {type(cb).__name__: cb.state_dict() for cb in self.callbacks},
            "metrics": {k: float(v) for k, v in metrics.items()},
            "config": self.config_yaml,
        }
        if batches_done:  # where in epoch `epoch` the run stopped
            state["batches_done"] = batches_done
        if self.dist.world_size > 1:
            state["world_size"] = self.dist.world_size
            state["per_rank"] = self.dist.gather_object(own)
        return state

    def save_checkpoint(self, state: dict[str, Any], path: Path) -> None:
        if self.is_global_zero:
            checkpoint.save(state, path)

    def preempt(self, task: Task, batches_done: int, epoch_loss_sum: torch.Tensor | None) -> None:
        """Save a resumable last.ckpt at this optimizer step, then stop the run (``Preempted``)."""
        path = self.run_dir / "checkpoints" / "last.ckpt"
        if self.enable_checkpointing:
            self.save_checkpoint(self.checkpoint_state(task, self.last_metrics, batches_done, epoch_loss_sum), path)
        self.dist.barrier()  # no rank exits before rank 0's checkpoint is on disk
        where = f"epoch {self.epoch + 1} after batch {batches_done}" if batches_done else f"the end of epoch {self.epoch + 1}"
        saved = f"saved {path} at {where} (step {self.global_step})" if self.enable_checkpointing else \
            "no checkpoint saved (trainer.enable_checkpointing=false)"
        log.warning("%s received: %s; resume with ckpt_path=last", self.preemption.received or "a signal", saved)
        raise Preempted(f"preempted at step {self.global_step}; {saved}", path if self.enable_checkpointing else None)

    def restore(self, ckpt_path: str | Path, task: Task, total_steps: int) -> int:
        """Load a checkpoint for an exact resume; returns the epoch to start from."""
        state = checkpoint.load(ckpt_path)
        load_weights(task, state)
        try:
            self.optim.load_state_dict(state["optim"], total_steps)
        except (KeyError, ValueError) as error:
            raise UserError(
                f"The checkpoint's optimizer state does not fit this run's optimizer ({error}); resume with "
                "the optimizer config the checkpoint was trained with."
            ) from None
        for callback in self.callbacks:
            if type(callback).__name__ in state["callbacks"]:
                callback.load_state_dict(state["callbacks"][type(callback).__name__])
        self.global_step = state["global_step"]
        own = self._own_state(state)
        checkpoint.restore_rng(own["rng"])
        self.resumed_from = Path(ckpt_path)
        batches_done = self._batches_to_skip(state)
        if batches_done:  # a preemption checkpoint: train_epoch skips what the interrupted run trained on
            self._resume_position = {"batches_done": batches_done, **own}
            log.info("resumed from %s in epoch %d after batch %d (step %d)", ckpt_path, state["epoch"] + 1,
                     batches_done, self.global_step)
            return state["epoch"]
        log.info("resumed from %s after epoch %d (step %d)", ckpt_path, state["epoch"], self.global_step)
        if state["epoch"] >= self.max_epochs:
            log.warning("the checkpoint already finished %d epochs; raise trainer.max_epochs to train longer",
                        state["epoch"])
        return state["epoch"]

    def _own_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """This rank's RNG state (and mid-epoch running loss) from a DDP checkpoint, else the saved ones."""
        per_rank = state.get("per_rank")
        if per_rank and len(per_rank) == self.dist.world_size:
            return per_rank[self.dist.rank]
        if self.dist.world_size > 1 or per_rank:
            log.warning("the checkpoint was written by %d process(es), this run has %d: every rank takes rank 0's "
                        "RNG state, so dropout and augmentation draws differ from an uninterrupted run",
                        state.get("world_size", 1), self.dist.world_size)
        return {k: state[k] for k in ("rng", "epoch_loss_sum") if k in state}

    def _batches_to_skip(self, state: dict[str, Any]) -> int:
        """Batches of the interrupted epoch this process already trained on (rescaled for another world size)."""
        done = state.get("batches_done", 0)
        written_by = state.get("world_size", 1)
        if done and written_by != self.dist.world_size:
            log.warning("mid-epoch checkpoint of %d process(es) resumed by %d: the epoch continues after the same "
                        "number of samples, but the batches are cut differently", written_by, self.dist.world_size)
            done = done * written_by // self.dist.world_size
        return done

    def log_summary(self, task: Task, data: Any) -> None:
        total, trainable = count_parameters(task.model)
        batch = self.to_device(next(iter(data.val_dataloader())))
        flops = count_flops(lambda: task.example_forward(batch), task.model)
        lines = [
            f"model      {type(task.model).__name__}: {total:,} parameters ({trainable:,} trainable)",
            f"compute    {human(flops)}FLOPs = {human(flops / 2)}MACs per sample (forward)",
            f"device     {self.device}, precision {self.precision}"
            + (", compiled" if self.compile else "") + (", channels_last" if self.channels_last else ""),
            f"run dir    {self.run_dir}",
        ]
        for line in lines:
            log.info(line)
        self.model_facts = {"params": total, "trainable_params": trainable, "flops_per_sample": flops}

    def log_weight_histograms(self, task: Task) -> None:
        for name, parameter in task.named_weight_tensors():
            self.loggers.log_histogram(f"weights/{name}", parameter, self.global_step)
            if parameter.grad is not None:
                self.loggers.log_histogram(f"gradients/{name}", parameter.grad, self.global_step)

    def _clip_value(self, task: Task) -> float | None:
        """trainer.gradient_clip_val, or the task family's default (language models clip at 1.0)."""
        if self.gradient_clip_val is not None:
            return self.gradient_clip_val
        return getattr(task, "default_gradient_clip_val", None)

    def _num_batches(self, available: int, limit: int | float | None) -> int:
        if limit is None:
            return available
        if isinstance(limit, float) and limit <= 1.0:
            return max(1, int(available * limit))
        return min(available, int(limit))

    def _is_last_epoch(self) -> bool:
        return self.epoch + 1 == self.max_epochs

    def _bar_disabled(self) -> bool | None:
        if not (self.enable_progress_bar and self.is_global_zero):
            return True
        return None  # tqdm hides itself when not a TTY


def load_weights(task: Task, state: dict[str, Any]) -> None:
    """Model (and task) weights from a checkpoint, with one sentence when they do not fit."""
    try:
        task.model.load_state_dict(state["model"])
        task.load_extra_state(state.get("task", {}))
    except (RuntimeError, KeyError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise UserError(
            f"The checkpoint's weights do not fit this model ({first_line}); resume with the same model "
            "and data config as the run that wrote it."
        ) from None


def load_inference_weights(task: Task, state: dict[str, Any]) -> None:
    """The checkpoint's weights, then its EMA weights when the run kept an average (what its validation used)."""
    load_weights(task, state)
    shadow = (state.get("callbacks") or {}).get("EMA", {}).get("shadow")
    if shadow:
        task.model.load_state_dict(shadow)
        log.info("using the checkpoint's EMA weights")


def _unpack(output: Any) -> tuple[torch.Tensor, dict[str, Any]]:
    if isinstance(output, dict):
        return output["loss"], output.get("log", {})
    return output, {}


def _floats(logs: dict[str, Any]) -> dict[str, float]:
    return {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in logs.items()}


def _lr_postfix(optim: Optimization) -> dict[str, str]:
    return {k: f"{v:.3g}" for k, v in optim.learning_rates().items()}


def _format(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k != "epoch")


def _short(metrics: dict[str, float], monitor: str) -> dict[str, str]:
    keys = [k for k in ("train/loss_epoch", "val/loss", monitor) if k in metrics]
    return {k.split("/")[-1]: f"{metrics[k]:.4g}" for k in keys}
