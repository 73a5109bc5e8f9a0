"""Callbacks: checkpointing, early stopping, learning-rate logging, weight EMA.

The trainer calls the hooks below in a fixed order; each callback's
``state_dict`` goes into the checkpoint, so a resumed run continues its
patience count, its best score and its EMA weights.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from dltrain.engine.best import improved

if TYPE_CHECKING:
    from dltrain.engine.trainer import Trainer
    from dltrain.tasks.base import Task


class Callback:
    order = 0  # lower runs first; the checkpoint runs last so it saves the others' updated state

    def on_fit_start(self, trainer: Trainer, task: Task) -> None: ...
    def on_train_step_end(self, trainer: Trainer, task: Task) -> None: ...
    def on_validation_start(self, trainer: Trainer, task: Task) -> None: ...
    def on_validation_end(self, trainer: Trainer, task: Task) -> None: ...
    def on_epoch_end(self, trainer: Trainer, task: Task, metrics: dict[str, float]) -> None: ...

    def evaluation_weights(self) -> dict[str, torch.Tensor] | None:
        """Model weights that validation scores instead of the trained ones (EMA's average), else None.

        Checkpoints store them as ``evaluation_model``; testing after training, ``mode=eval`` and
        ``mode=predict`` load them, so every score is of the weights validation chose the best by."""
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Checkpoint(Callback):
    """Which checkpoint files a run writes, and when; the trainer's ``RunState`` (dltrain/checkpoint/
    run_state.py) writes them, in the background unless ``trainer.async_checkpoint=false``.

    * ``last.ckpt`` at every ``every_n_epochs``-th epoch end (and the last epoch), to resume from;
      with ``every_n_steps`` also inside epochs, every n optimizer steps (resumes mid-epoch, exactly);
    * ``best.ckpt`` whenever the monitored metric (``task.monitor``) improved, the same file as that
      epoch's ``last.ckpt`` (a hard link: written once);
    * ``epoch_NNNN.ckpt`` kept every ``keep_every_n_epochs`` epochs.
    ``save_last`` / ``save_best`` switch the first two off.
    """

    order = 100

    def __init__(self, save_last: bool = True, save_best: bool = True, every_n_epochs: int = 1,
                 every_n_steps: int = 0, keep_every_n_epochs: int = 0) -> None:
        self.save_last, self.save_best = save_last, save_best
        self.every_n_epochs, self.every_n_steps = every_n_epochs, every_n_steps
        self.keep_every_n_epochs = keep_every_n_epochs

    def on_train_step_end(self, trainer: Trainer, task: Task) -> None:
        if self.save_last and self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            trainer.run_state.save(trainer, task, ["last.ckpt"], mid_epoch=True)

    def on_epoch_end(self, trainer: Trainer, task: Task, metrics: dict[str, float]) -> None:
        epoch = trainer.epoch + 1
        names = []  # written in this order: a kill between them never leaves last.ckpt ahead of best.ckpt
        if self.keep_every_n_epochs and epoch % self.keep_every_n_epochs == 0:
            names.append(f"epoch_{epoch:04d}.ckpt")
        if self.save_best and trainer.best.improved:
            names.append("best.ckpt")
        if self.save_last and (epoch % self.every_n_epochs == 0 or trainer.stops_after_this_epoch()):
            names.append("last.ckpt")
        trainer.run_state.save(trainer, task, names)


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

    def evaluation_weights(self) -> dict[str, torch.Tensor] | None:
        return self.shadow

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.shadow = state["shadow"]
