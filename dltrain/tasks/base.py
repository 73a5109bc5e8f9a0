"""The task interface every family implements; the trainer calls nothing else.

A task is an ``nn.Module`` holding the model (and whatever else the family
needs beside it: a frozen teacher, an EMA teacher, a discriminator, or the
image being optimised in style transfer). It says:

* ``optimizer_groups()`` — which (named) parameters each optimizer trains. One group
  (``"model"``) for most tasks; a GAN returns ``generator`` and
  ``discriminator`` and the trainer builds one optimizer and schedule for each.
* ``training_step(batch, batch_idx)`` — the loss of a batch. With
  ``automatic_optimization = False`` the task receives the trainer's
  ``Optimization`` and calls ``optim.backward(loss)`` / ``optim.step(name)``
  itself, so precision, accumulation, clipping and (under ``trainer=ddp``) the averaging of gradients over
  processes stay in one place. ``data_parallel = False`` says there is nothing to split over processes.
* ``validation_step(batch, batch_idx)`` — update metrics with a batch.
* ``compute_metrics(prefix)`` — the metrics of the whole pass, then reset.
* ``log_visuals(logger, step, prefix)`` — images / figures at validation end.

``dltrain mode=predict`` (``dltrain/predict.py``) asks one more thing, the
one way a family takes part in prediction:

* ``predict_inputs`` — ``None`` (no predict support, the default),
  ``"required"`` (predicts from image files: classifiers, segmentation,
  detection, Pix2Pix, CycleGAN), ``"optional"`` (without files it samples:
  autoencoders / VAEs) or ``"unused"`` (it only generates: GANs, and style
  transfer, whose checkpoint holds the one image it optimised).
* ``predict_step(batch, options)`` — an ``ImageBatch`` of loaded files (or
  ``None`` when there are none) and the ``predict.*`` options in, a list of
  ``Prediction`` out: per entry a JSON record for predictions.json and the
  pictures to write beside it. Tasks compute; ``predict.py`` reads the files
  and writes every output, so all families name and store them the same way.

Batches can be anything the data module's collate function makes: tuples of
tensors, dicts, lists of per-image target dicts; the trainer moves every
tensor inside them to the device.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dltrain.models.transfer import frozen_norm_layers

StepOutput = torch.Tensor | dict[str, Any]


@dataclass
class ImageBatch:
    """Image files as ``mode=predict`` hands them to ``Task.predict_step`` (on the model's device)."""

    files: list[str]               # the paths, as found from predict.inputs
    names: list[str]               # unique stems for the output files
    originals: list[torch.Tensor]  # uint8 RGB (3, H, W) at the file's own size (CPU): overlays are drawn on these
    pixels: torch.Tensor           # (N, C, S, S) in [0, 1]: resized to data.image_size, data.in_channels channels
    normalised: torch.Tensor       # ``pixels`` with the data's (x - mean) / std: what the model saw in training

    def describe(self, index: int) -> dict[str, Any]:
        """The fields every per-file record starts with: file name and original size."""
        height, width = self.originals[index].shape[-2:]
        return {"file": self.files[index], "width": int(width), "height": int(height)}


@dataclass
class Prediction:
    """One entry of predictions.json and the PNGs written beside it.

    ``images`` maps a kind ("overlay", "mask", ...; "" for a lone picture) to a
    uint8 (1 or 3, H, W) tensor, written as ``<name>_<kind>.png`` (``<name>.png``
    for ""); the writer adds the file names to ``record`` under "outputs".
    A ``None`` record writes pictures only (a sample grid)."""

    name: str
    record: dict[str, Any] | None
    images: dict[str, torch.Tensor] = field(default_factory=dict)


class Task(nn.Module):
    automatic_optimization = True
    data_parallel = True  # False: nothing to split over DDP processes (style transfer optimises one image)
    predict_inputs: str | None = None  # "required" | "optional" | "unused"; None: no mode=predict

    def __init__(self, model: nn.Module, name: str, monitor: str, monitor_mode: str = "max") -> None:
        super().__init__()
        self.model = model
        self.name = name
        self.monitor = monitor
        self.monitor_mode = monitor_mode

    # --- what the trainer asks -------------------------------------------------
    def optimizer_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Named parameters per optimizer; frozen ones are skipped by the trainer."""
        return {"model": list(self.model.named_parameters())}

    def training_step(self, batch: Any, batch_idx: int) -> StepOutput:
        raise NotImplementedError

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        raise NotImplementedError

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        raise NotImplementedError

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        """Images or figures for TensorBoard at the end of a validation pass (optional)."""

    def example_forward(self, batch: Any) -> Any:
        """Run the model on one sample of a batch: the shape check before training and the
        FLOPs-per-sample count use it. Tasks whose inputs are not ``batch[0]`` override it."""
        return self.model(batch[0][:1])

    def check_data(self, data: Any) -> None:
        """Raise ``UserError`` if this task cannot use the data module (before any training)."""

    def predict_step(self, batch: ImageBatch | None, options: Any) -> list[Prediction]:
        """Predictions for loaded image files (``None``: no files, generate); runs under ``torch.no_grad``
        in eval mode. ``options`` is the ``predict`` config (score_threshold, top_k, num_samples, seed...)."""
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        """Task state beyond the model's weights that a checkpoint must keep (teachers, buffers)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("model.")}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        stray = unexpected + [k for k in missing if not k.startswith("model.")]
        if stray:
            raise KeyError(f"task state does not match: {', '.join(stray[:5])}")

    def train(self, mode: bool = True) -> "Task":
        super().train(mode)
        if mode:  # a frozen backbone's BatchNorm keeps its pretrained statistics
            for norm in frozen_norm_layers(self.model):
                norm.eval()
        return self

    def named_weight_tensors(self) -> Iterator[tuple[str, nn.Parameter]]:
        """Parameters shown in the weight / gradient histograms."""
        return self.model.named_parameters()
