"""Callbacks: checkpointing, early stopping, learning-rate logging, weight EMA.

The trainer calls the hooks below in a fixed order; each callback's
``state_dict`` goes into the checkpoint, so a resumed run continues its
patience count, its best score and its EMA weights.
"""
from __future__ import annotations

import math
import shutil
from typing import TYPE_CHECKING, Any

import torch

from dltrain import checkpoint

if TYPE_CHECKING:
    from dltrain.tasks.base import Task
    from dltrain.trainer import Trainer


class Callback:
    order = 0  # lower runs first; the checkpoint runs last so it saves the others' updated state

    def on_fit_start(self, trainer: Trainer, task: Task) -> None: ...
    def on_train_step_end(self, trainer: Trainer, task: Task) -> None: ...
    def on_validation_start(self, trainer: Trainer, task: Task) -> None: ...
    def on_validation_end(self, trainer: Trainer, task: Task) -> None: ...
    def on_epoch_end(self, trainer: Trainer, task: Task, metrics: dict[str, float]) -> None: ...
    def state_dict(self) -> dict[str, Any]:
        return {}
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    if best is None or not math.isfinite(best):
        return math.isfinite(value)
    return value > best + min_delta if mode == "max" else value < best - min_delta


class Checkpoint(Callback):
    """``last.ckpt`` after every epoch, ``best.ckpt`` when the monitored metric improves."""

    order = 100

    def __init__(self, monitor: str, mode: str = "max", save_last: bool = True, save_best: bool = True,
                 save_every_n_epochs: int = 0) -> None:
        self.monitor, self.mode = monitor, mode
        self.save_last, self.save_best, self.save_every_n_epochs = save_last, save_best, save_every_n_epochs
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_fit_start(self, trainer: Trainer, task: Task) -> None:
        """A resumed run starts in a new run directory: bring the best checkpoint so far along, so that this
        directory's best.ckpt is the best of the whole training (and the test after training uses it)."""
        if trainer.resumed_from is None or self.best_epoch is None or not self.save_best or not trainer.is_global_zero:
            return
        source = trainer.resumed_from.parent / "best.ckpt"
        target = trainer.run_dir / "checkpoints" / "best.ckpt"
        if target.exists() or not source.is_file():
            return
        state = checkpoint.load(source)
        if state["epoch"] == self.best_epoch + 1 and state["metrics"].get(self.monitor) == self.best:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.copy.tmp")
            shutil.copyfile(source, temporary)
            temporary.replace(target)  # atomic, like every checkpoint write

    def on_epoch_end(self, trainer: Trainer, task: Task, metrics: dict[str, float]) -> None:
        is_best = self.monitor in metrics and improved(metrics[self.monitor], self.best, self.mode)
        if is_best:
            self.best, self.best_epoch = metrics[self.monitor], trainer.epoch
        if not trainer.enable_checkpointing:  # trainer=debug: the best is still reported, nothing written
            return
        folder = trainer.run_dir / "checkpoints"
        state = trainer.checkpoint_state(task, metrics)  # built after `best` moved, so it is saved too
        if self.save_last:
            trainer.save_checkpoint(state, folder / "last.ckpt")
        if self.save_best and is_best:
            trainer.save_checkpoint(state, folder / "best.ckpt")
        if self.save_every_n_epochs and (trainer.epoch + 1) % self.save_every_n_epochs == 0:
            trainer.save_checkpoint(state, folder / f"epoch_{trainer.epoch + 1:04d}.ckpt")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class EarlyStopping(Callback):
    """Stop when the monitored metric has not improved by ``min_delta`` for ``patience`` validations."""

    def __init__(self, monitor: str, mode: str = "max", patience: int = 5, min_delta: float = 0.0) -> None:
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.best: float | None = None
        self.bad_epochs = 0

    def on_epoch_end(self, trainer: Trainer, task: Task, metrics: dict[str, float]) -> None:
        if self.monitor not in metrics:
            return
        if improved(metrics[self.monitor], self.best, self.mode, self.min_delta):
            self.best, self.bad_epochs = metrics[self.monitor], 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                trainer.stop(f"early stopping: {self.monitor} did not improve for {self.patience} validations")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad_epochs = state["best"], state["bad_epochs"]


class LearningRateMonitor(Callback):
    """Log every optimizer's learning rate each logging step (the lr curve in TensorBoard)."""

    def on_train_step_end(self, trainer: Trainer, task: Task) -> None:
        if trainer.global_step % trainer.log_every_n_steps == 0:
            trainer.loggers.log_metrics(trainer.optim.learning_rates(), trainer.global_step)


class EMA(Callback):
    """Exponential moving average of the model's weights, used for validation.

    ``ema = decay * ema + (1 - decay) * weights`` after every optimizer step;
    buffers (BatchNorm statistics) are copied. During validation the EMA
    weights are swapped in, then the training weights are swapped back.
    """

    def __init__(self, decay: float = 0.999) -> None:
        self.decay = decay
        self.shadow: dict[str, torch.Tensor] | None = None
        self._backup: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, trainer: Trainer, task: Task) -> None:
        if self.shadow is None:
            self.shadow = {k: v.detach().clone() for k, v in task.model.state_dict().items()}
        else:  # restored from a checkpoint on the CPU
            self.shadow = {k: v.to(trainer.device) for k, v in self.shadow.items()}

    @torch.no_grad()
    def on_train_step_end(self, trainer: Trainer, task: Task) -> None:
        for name, value in task.model.state_dict().items():
            shadow = self.shadow[name]
            if value.dtype.is_floating_point:
                shadow.lerp_(value.detach(), 1.0 - self.decay)
            else:
                shadow.copy_(value)

    def on_validation_start(self, trainer: Trainer, task: Task) -> None:
        if self.shadow is not None:
            self._backup = {k: v.detach().clone() for k, v in task.model.state_dict().items()}
            task.model.load_state_dict(self.shadow)

    def on_validation_end(self, trainer: Trainer, task: Task) -> None:
        if self._backup is not None:
            task.model.load_state_dict(self._backup)
            self._backup = None

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.shadow = state["shadow"]
