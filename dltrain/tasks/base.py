"""The task interface every family implements: every hook the trainer, the run builder and ``mode=predict``
call is declared here, with its default. Nothing else is asked of a task.

A task is an ``nn.Module`` holding the model (and whatever else the family needs beside it: a frozen
teacher, an EMA teacher, a discriminator, or the image being optimised in style transfer).

Training (the trainer, dltrain/engine/trainer.py)
    ``optimizer_groups()``     which (named) parameters each optimizer trains: one group (``"model"``) for most
                               tasks; a GAN returns ``generator`` and ``discriminator`` and gets one optimizer
                               and one schedule for each.
    ``training_step(batch, batch_idx)``   the loss of a batch (a tensor, or ``{"loss": ..., "log": {...}}``).
                               A ``ManualOptimizationTask`` steps its optimizers itself instead (below).
    ``default_gradient_clip_val``   the family's clipping when ``trainer.gradient_clip_val`` is unset
                               (language models clip at 1.0).
    ``named_weight_tensors()`` parameters shown in the weight / gradient histograms.

Evaluation (validation, test, ``mode=eval``)
    ``validation_step(batch, batch_idx)``   update metric sums with a batch.
    ``compute_metrics(prefix)``   the metrics of the whole pass (``{prefix}/name``); the trainer then calls
    ``reset_metrics()``           which clears what the validation steps accumulated.
    ``distributed_metrics``    names of metric accumulators whose ``summed_state`` DDP all-reduces after a
                               sharded pass; empty: every process evaluates the whole split (exact, redundant).
    ``log_visuals(logger, step, prefix)``   images / figures at the end of a pass (``logger.log_image``,
                               ``log_text``, ``log_pr_curve``). The loggers keep the last image of each tag:
                               at the end of a run those of its last pass become plots/<name>.png.

    ``quick_check``            True under ``trainer=debug`` (``fast_dev_run``; the trainer sets it): the run checks
                               a config, it measures nothing, so evaluation takes the cheapest path through the
                               same code (translation decodes greedily, no beam search; a language model samples
                               a few tokens for TensorBoard; a classifier draws no matplotlib figure).

At the end of a run (the run builder, dltrain/launch/figures.py: after the test pass, or after the last
validation when the run has no test), from what the last pass kept:
    ``save_figures(plots_dir)``   figures drawn for plots/ beyond the last pass's TensorBoard images (the
                               classifier's confusion matrices and PR curves, drawn whatever the figure cadence).
    ``per_class_metrics()``    rows of per-class scores (``class`` first, numbers after) for per_class.csv and the
                               table printed at the end; ``None``: the task has none.

Before training (the run builder, dltrain/launch/run.py)
    ``check_data(data)``       raise ``UserError`` if the data module cannot be used (and read what the task
                               needs from it: normalisation, vocabulary, class count).
    ``example_forward(batch)`` the model on one sample: the shape check and the FLOPs count use it.

Checkpoints (dltrain/checkpoint/run_state.py)
    ``extra_state()`` / ``load_extra_state(state)``   task state beyond the model's weights (teachers, buffers).

Prediction (``mode=predict``, dltrain/predict/run.py)
    ``predict_inputs``         ``None`` (no predict support), ``"required"`` (predicts from image files:
                               classifiers, segmentation, detection, Pix2Pix, CycleGAN; or from the examples of
                               data files that the data module reads: classification and regression of
                               arrays, tables, text lines), ``"optional"``
                               (without files it samples: autoencoders / VAEs) or ``"unused"`` (it only
                               generates: GANs, and style transfer, whose checkpoint holds its one image).
    ``predict_step(batch, options)``   an ``ImageBatch`` of loaded files, a ``SampleBatch`` of examples (or
                               ``None``) and the ``predict.*``
                               options in, a list of ``Prediction`` out (dltrain/predict/records.py).
    ``data_parallel``          False: nothing to split over DDP processes (style transfer optimises one image).

Batches can be anything the data module's collate function makes: tuples of tensors, dicts, lists of
per-image target dicts; the trainer moves every tensor inside them to the device.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from dltrain.models.transfer import frozen_norm_layers
from dltrain.predict.records import ImageBatch, Prediction

if TYPE_CHECKING:
    from dltrain.engine.optimization import Optimization

StepOutput = torch.Tensor | dict[str, Any]


class Task(nn.Module):
    automatic_optimization = True  # False for a ManualOptimizationTask
    data_parallel = True
    predict_inputs: str | None = None  # "required" | "optional" | "unused"; None: no mode=predict
    distributed_metrics: tuple[str, ...] = ()
    default_gradient_clip_val: float | None = None
    quick_check = False  # trainer=debug: evaluate by the cheapest path (set by the trainer)

    def __init__(self, model: nn.Module, name: str, monitor: str, monitor_mode: str = "max") -> None:
        super().__init__()
        self.model = model
        self.name = name
        self.monitor = monitor
        self.monitor_mode = monitor_mode

    # --- training ---------------------------------------------------------------
    def optimizer_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Named parameters per optimizer; frozen ones are skipped by the trainer."""
        return {"model": list(self.model.named_parameters())}

    def training_step(self, batch: Any, batch_idx: int) -> StepOutput:
        raise NotImplementedError

    def named_weight_tensors(self) -> Iterator[tuple[str, nn.Parameter]]:
        """Parameters shown in the weight / gradient histograms."""
        return self.model.named_parameters()

    # --- evaluation -------------------------------------------------------------
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        raise NotImplementedError

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        raise NotImplementedError

    def reset_metrics(self) -> None:
        """Clear what the validation steps accumulated; the trainer calls it after each pass's ``compute_metrics``
        and ``log_visuals``, so a pass starts from zero."""
        raise NotImplementedError

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        """Images or figures for TensorBoard at the end of a validation pass (optional)."""

    # --- end of a run -------------------------------------------------------------
    def save_figures(self, plots_dir: Path) -> None:
        """Figures of the last evaluation pass drawn into ``plots_dir`` (optional; the last pass's TensorBoard
        images are written there anyway)."""

    def per_class_metrics(self) -> list[dict[str, Any]] | None:
        """Per-class scores of the last evaluation pass, one dict per class (optional)."""
        return None

    # --- before training --------------------------------------------------------
    def check_data(self, data: Any) -> None:
        """Raise ``UserError`` if this task cannot use the data module (before any training)."""

    def example_forward(self, batch: Any) -> Any:
        """Run the model on one sample of a batch: the shape check before training and the
        FLOPs-per-sample count use it. Tasks whose inputs are not ``batch[0]`` override it."""
        return self.model(batch[0][:1])

    # --- checkpoints ------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Task state beyond the model's weights that a checkpoint must keep (teachers, buffers)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("model.")}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        stray = unexpected + [k for k in missing if not k.startswith("model.")]
        if stray:
            raise KeyError(f"task state does not match: {', '.join(stray[:5])}")

    # --- prediction -------------------------------------------------------------
    def predict_step(self, batch: ImageBatch | None, options: Any) -> list[Prediction]:
        """Predictions for loaded image files (``None``: no files, generate); runs under ``torch.no_grad``
        in eval mode. ``options`` is the ``predict`` config (score_threshold, top_k, num_samples, seed...)."""
        raise NotImplementedError

    # --- nn.Module ----------------------------------------------------------------
    def train(self, mode: bool = True) -> Task:
        super().train(mode)
        if mode:  # a frozen backbone's BatchNorm keeps its pretrained statistics
            for norm in frozen_norm_layers(self.model):
                norm.eval()
        return self


class ManualOptimizationTask(Task):
    """A task that steps its optimizers itself: GANs, CycleGAN / Pix2Pix, Mean Teacher, style transfer.

    Its ``training_step`` receives the trainer's ``Optimization`` and calls ``optim.backward(loss, name)`` and
    ``optim.step(name)`` per optimizer, so precision, accumulation, clipping and (under ``trainer=ddp``) the
    averaging of gradients over processes stay in one place; ``frozen(module)`` keeps one network's
    gradients out of another's loss.
    """

    automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int, optim: Optimization) -> StepOutput:  # type: ignore[override]
        raise NotImplementedError


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """No gradients into ``module``'s parameters inside the block (they still flow through it)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(module.parameters(), flags):
            parameter.requires_grad_(flag)
