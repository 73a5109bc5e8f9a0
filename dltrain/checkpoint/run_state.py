"""What a checkpoint holds, how a run is restored from one, where a resume starts; the one writer of its files.

The trainer owns one ``RunState``. The ``Checkpoint`` callback says which files it wants and when
(``last.ckpt``, ``best.ckpt`` when the monitored metric improved, ``epoch_NNNN.ckpt``; at epoch ends or every
n steps) and this writes them, through a ``CheckpointWriter`` (in the background by default, writer.py); a
preemption signal has it write a mid-epoch ``last.ckpt``. Nothing else writes checkpoint files.

A checkpoint is a plain dict (``torch.load(weights_only=True)`` reads it)::

    model, task           the model's weights, and task state beyond them (teachers, buffers)
    evaluation_model      the weights validation scores when a callback keeps others (EMA); absent otherwise
    evaluation_model_from ... and that callback's name
    optim                 optimizers, schedules, the fp16 loss scaler
    epoch, global_step    epochs completed, optimizer steps taken
    batches_done          mid-epoch checkpoints only: batches of epoch ``epoch`` already trained on ...
    epoch_loss_sum        ... and their running training loss
    rng                   Python / NumPy / torch (/ CUDA) generator states
    world_size, per_rank  under DDP: every rank's generator states (and running loss)
    best                  the monitored metric's best value and its epoch
    callbacks             each callback's own state (early-stopping patience, EMA weights)
    metrics               the last validation's metrics
    config                the composed config, resolved (YAML)
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from dltrain.checkpoint import files, rng
from dltrain.checkpoint.writer import CheckpointWriter
from dltrain.errors import UserError

if TYPE_CHECKING:
    from dltrain.engine.trainer import Trainer
    from dltrain.tasks.base import Task

log = logging.getLogger(__name__)


class RunState:
    def __init__(self, run_dir: Path, config_yaml: str, enabled: bool = True, background: bool = True) -> None:
        self.folder = Path(run_dir) / "checkpoints"
        self.config_yaml = config_yaml
        self.enabled = enabled  # False under trainer=debug / enable_checkpointing=false: nothing is written
        self.writer = CheckpointWriter(background)  # async_checkpoint: writes in a background thread
        self.resumed_from: Path | None = None
        self._position: dict[str, Any] | None = None  # set by restore() from a mid-epoch checkpoint

    # ------------------------------------------------------------------ writing
    def capture(self, trainer: Trainer, task: Task, metrics: dict[str, float], batches_done: int = 0,
                epoch_loss_sum: torch.Tensor | None = None) -> dict[str, Any]:
        """Everything an exact resume needs. Called on every rank (each contributes its generator states)."""
        own = {"rng": rng.capture_rng()}  # what differs between DDP ranks
        if batches_done:  # a mid-epoch (preemption) checkpoint: this rank's running loss of the epoch
            own["epoch_loss_sum"] = epoch_loss_sum.detach().cpu()
        state = {
            "model": task.model.state_dict(),
            "task": task.extra_state(),
            "optim": trainer.optim.state_dict(),
            "epoch": trainer.epoch + (0 if batches_done else 1),  # epochs completed
            "global_step": trainer.global_step,
            **own,
            "best": trainer.best.state_dict(),
            "callbacks": {type(cb).__name__: cb.state_dict() for cb in trainer.callbacks},
            "metrics": {k: float(v) for k, v in metrics.items()},
            "config": self.config_yaml,
        }
        for callback in trainer.callbacks:
            weights = callback.evaluation_weights()
            if weights is not None:  # the same tensors as the callback's state: torch.save stores them once
                state["evaluation_model"], state["evaluation_model_from"] = weights, type(callback).__name__
        if batches_done:  # where in epoch `epoch` the run stopped
            state["batches_done"] = batches_done
        if trainer.dist.world_size > 1:
            state["world_size"] = trainer.dist.world_size
            state["per_rank"] = trainer.dist.gather_object(own)
        return state

    def save(self, trainer: Trainer, task: Task, names: Sequence[str], mid_epoch: bool = False) -> Path | None:
        """Write the run's state now under ``names`` (``best.ckpt`` before ``last.ckpt``: see ``files.save``).

        ``mid_epoch``: the trainer is inside an epoch (a preemption, ``every_n_steps``); the checkpoint then
        holds the batches done so far and resumes after them. Returns the path of the last name (None when
        checkpointing is off). Every DDP rank calls this (each gives its generator states); rank 0 writes.
        """
        if not (self.enabled and names):
            return None
        batches_done = trainer.batches_done if mid_epoch else 0
        state = self.capture(trainer, task, trainer.last_metrics, batches_done, trainer.epoch_loss_sum)
        paths = [self.folder / name for name in names]
        if trainer.is_global_zero:
            self.writer.write(state, paths[-1], also=paths[:-1])
        return paths[-1]

    def start_writing(self) -> None:
        """Before the first write of a run into its folder: remove what writes cut short by a kill left."""
        if self.enabled:
            for leftover in files.remove_partial_writes(self.folder):
                log.info("removed %s, a checkpoint write cut short", leftover.name)

    def wait(self) -> None:
        """The write in flight is on disk (its error, if any, raised here)."""
        self.writer.wait()

    # ------------------------------------------------------------------ reading
    def restore(self, path: str | Path, trainer: Trainer, task: Task, total_steps: int) -> int:
        """Load a checkpoint for an exact resume into the trainer and task; returns the epoch to start from."""
        state = files.load(path)
        load_weights(task, state)
        try:
            trainer.optim.load_state_dict(state["optim"], total_steps)
        except (KeyError, ValueError) as error:
            raise UserError(
                f"The checkpoint's optimizer state does not fit this run's optimizer ({error}); resume with "
                "the optimizer config the checkpoint was trained with."
            ) from None
        for callback in trainer.callbacks:
            if type(callback).__name__ in state["callbacks"]:
                callback.load_state_dict(state["callbacks"][type(callback).__name__])
        trainer.best.load_state_dict(state["best"])
        trainer.global_step = state["global_step"]
        own = self._own_state(state, trainer.dist)
        rng.restore_rng(own["rng"])
        self.resumed_from = Path(path)
        self._bring_best_along(trainer)
        batches_done = self._batches_to_skip(state, trainer.dist)
        if batches_done:  # a preemption checkpoint: the epoch continues after what the interrupted run trained on
            self._position = {"batches_done": batches_done, **own}
            log.info("resumed from %s in epoch %d after batch %d (step %d)", path, state["epoch"] + 1,
                     batches_done, trainer.global_step)
            return state["epoch"]
        log.info("resumed from %s after epoch %d (step %d)", path, state["epoch"], trainer.global_step)
        if state["epoch"] >= trainer.max_epochs:
            log.warning("the checkpoint already finished %d epochs; raise trainer.max_epochs to train longer",
                        state["epoch"])
        return state["epoch"]

    def resume_batches(self, batches: Iterator, device: torch.device) -> tuple[Iterator, int, torch.Tensor]:
        """An epoch's batch iterator, the index of its first batch and the running loss sum.

        After a mid-epoch checkpoint the batches the interrupted run trained on are fetched and dropped (the
        order is a function of seed + epoch, so they are the same ones; fetching them also advances loader
        workers' augmentation RNG exactly), then the generator states of the moment of the checkpoint return.
        """
        position, self._position = self._position, None
        if position is None:
            return batches, 0, torch.zeros((), device=device)
        for _ in range(position["batches_done"]):
            next(batches)
        rng.restore_rng(position["rng"])
        return batches, position["batches_done"], position["epoch_loss_sum"].to(device)

    def _own_state(self, state: dict[str, Any], dist: Any) -> dict[str, Any]:
        """This rank's generator states (and mid-epoch running loss) from a DDP checkpoint, else the saved ones."""
        per_rank = state.get("per_rank")
        if per_rank and len(per_rank) == dist.world_size:
            return per_rank[dist.rank]
        if dist.world_size > 1 or per_rank:
            log.warning("the checkpoint was written by %d process(es), this run has %d: every rank takes rank 0's "
                        "RNG state, so dropout and augmentation draws differ from an uninterrupted run",
                        state.get("world_size", 1), dist.world_size)
        return {k: state[k] for k in ("rng", "epoch_loss_sum") if k in state}

    @staticmethod
    def _batches_to_skip(state: dict[str, Any], dist: Any) -> int:
        """Batches of the interrupted epoch this process already trained on (rescaled for another world size)."""
        done = state.get("batches_done", 0)
        written_by = state.get("world_size", 1)
        if done and written_by != dist.world_size:
            log.warning("mid-epoch checkpoint of %d process(es) resumed by %d: the epoch continues after the same "
                        "number of samples, but the batches are cut differently", written_by, dist.world_size)
            done = done * written_by // dist.world_size
        return done

    def _bring_best_along(self, trainer: Trainer) -> None:
        """A resumed run starts in a new run directory: bring the best checkpoint so far along, so that this
        directory's best.ckpt is the best of the whole training (and the test after training uses it)."""
        best = trainer.best
        if best.epoch is None or not self.enabled or not trainer.is_global_zero:
            return
        source, target = self.resumed_from.parent / "best.ckpt", self.folder / "best.ckpt"
        if target.exists() or not source.is_file():
            return
        stored = files.load(source)
        if stored["epoch"] == best.epoch and stored["best"]["value"] == best.value:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.copy.tmp")
            shutil.copyfile(source, temporary)
            temporary.replace(target)  # atomic, like every checkpoint write


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


def restore_evaluation_callbacks(callbacks: Sequence[Any], state: dict[str, Any]) -> None:
    """Callbacks that swap weights of their own in for validation (EMA) take the checkpoint's: testing the best
    checkpoint after training then scores the best epoch's average, not the last epoch's."""
    for callback in callbacks:
        name = type(callback).__name__
        if callback.evaluation_weights() is not None and name in state.get("callbacks", {}):
            callback.load_state_dict(state["callbacks"][name])


def tested_weights(task: Task, callbacks: Sequence[Any], state: dict[str, Any] | None) -> dict[str, torch.Tensor]:
    """The model weights a run's test scored, for ``weights.pt``: the checkpoint's (``state``, the best one) when
    the test loaded one, else the model's own; a callback's evaluation weights (EMA) in either case when kept."""
    if state is not None:
        return state.get("evaluation_model") or state["model"]
    for callback in callbacks:
        weights = callback.evaluation_weights()
        if weights is not None:
            return weights
    return task.model.state_dict()


def load_inference_weights(task: Task, state: dict[str, Any]) -> None:
    """The checkpoint's weights, then the ones its validation scored when they differ (a callback's: EMA)."""
    load_weights(task, state)
    if state.get("evaluation_model"):
        task.model.load_state_dict(state["evaluation_model"])
        log.info("using the checkpoint's %s weights", state.get("evaluation_model_from", "evaluation"))
