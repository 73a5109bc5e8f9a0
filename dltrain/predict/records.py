"""What ``mode=predict`` hands a task and gets back: loaded image files (or the examples of data files) in,
prediction records and pictures out."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass
class ImageBatch:
    """Image files as ``mode=predict`` hands them to ``Task.predict_step`` (on the model's device)."""

    files: list[str]               # the paths, as found from predict.inputs
    names: list[str]               # unique stems for the output files
    originals: list[torch.Tensor]  # uint8 RGB (3, H, W) at the file's own size (CPU): overlays are drawn on these
    pixels: torch.Tensor           # (N, C, S, S) in [0, 1]: resized to data.image_size, data.in_channels channels
    normalised: torch.Tensor       # ``pixels`` with the data's (x - mean) / std: what the model saw in training

    @property
    def model_inputs(self) -> torch.Tensor:
        return self.normalised

    def describe(self, index: int) -> dict[str, Any]:
        """The fields every per-file record starts with: file name and original size."""
        height, width = self.originals[index].shape[-2:]
        return {"file": self.files[index], "width": int(width), "height": int(height)}


@dataclass
class SampleBatch:
    """Examples read from data files (entries of an array, rows of a table, lines of text) by the data module
    that read the training files (``DataModule.prediction_samples``), prepared as its training inputs were."""

    sources: list[dict[str, Any]]  # per example: where it was read ({"file": ..., "row": ...} or "line")
    model_inputs: torch.Tensor     # (N, ...) what the model takes: standardised values, or padded token ids

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def names(self) -> list[str]:
        return [Path(source["file"]).stem for source in self.sources]  # (examples write no pictures)

    def describe(self, index: int) -> dict[str, Any]:
        """The fields every record starts with: the file and the row (0-based) or line the example came from."""
        return dict(self.sources[index])

    def part(self, start: int, stop: int, device: torch.device) -> SampleBatch:
        return SampleBatch(self.sources[start:stop], self.model_inputs[start:stop].to(device))


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
