"""Examples held as two arrays, inputs x (N, ...) and targets y (N,): what data=arrays and data=csv share.

A subclass reads its files into ``Part``s (the training examples, and the validation / test examples when
the files hold them); this class does the rest, the same way for both:

1. the task: ``data.task``, else classification for integer or text labels, regression for real values
   (dltrain/data/own/targets.py); the class names, numbered 0..K-1;
2. the validation and test splits the files do not give, cut from the training examples (seeded,
   stratified by class: dltrain/data/own/splits.py);
3. standardisation (``data.standardize``): x' = (x - mean) / std per feature or channel, and a regression
   target likewise, with the statistics of the training split only;
4. the facts (``facts()``): class names, shapes, the task, the standardisation numbers. They land in the
   checkpoint's config, and a module built from that config (``mode=eval``, ``mode=predict``) uses the
   numbers it is given instead of fitting new ones, so it sees the data exactly as training did.

``mode=predict`` hands the module the files of ``predict.inputs``; it reads their inputs with
``read_inputs`` and prepares them as the training inputs were (``prediction_samples``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from dltrain.data.core.base import DataModule
from dltrain.data.core.standardize import Standardizer
from dltrain.data.own.facts import agree
from dltrain.data.own.splits import empty_split, split_rows
from dltrain.data.own.targets import CLASSIFICATION, REGRESSION, check_several_classes, encode_labels, task_of
from dltrain.errors import UserError
from dltrain.predict.records import SampleBatch

SPLITS = ("train", "val", "test")


@dataclass
class Part:
    """The examples of one file (or of two keys of one file): inputs, raw targets, and where they are from."""

    x: np.ndarray
    y: np.ndarray
    source: str  # for messages: "digits.npz (x_val, y_val)"

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise UserError(f"{self.source} has {len(self.x)} inputs but {len(self.y)} targets; give one target "
                            "per example (the first axis of both counts the examples).")


class ExampleArrays(DataModule):
    """Inputs and targets in memory; a subclass reads them (``read``) and says what the inputs are."""

    def __init__(
        self,
        path: str,
        task: str | None = None,
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        standardize: bool = True,
        feature_mean: Sequence[float] | None = None,
        feature_std: Sequence[float] | None = None,
        target_mean: float | None = None,
        target_std: float | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        **loader_options: Any,
    ) -> None:
        super().__init__(**loader_options)
        self.path = Path(path).expanduser()
        self.task, self.num_classes = task, num_classes
        self.class_names = list(class_names) if class_names is not None else None
        self.standardize = standardize
        self.feature_mean, self.feature_std = feature_mean, feature_std
        self.target_mean, self.target_std = target_mean, target_std
        self.val_fraction, self.test_fraction = val_fraction, test_fraction

    # --- what a subclass reads and states ---------------------------------------------------------
    def read(self) -> dict[str, Part]:
        """The examples of the files: ``train`` always, ``val`` / ``test`` when the files hold them."""
        raise NotImplementedError

    def read_inputs(self, path: Path) -> np.ndarray:
        """The inputs of a file of ``predict.inputs`` (targets, when the file has them, are left out)."""
        raise NotImplementedError

    def shape_facts(self, x: np.ndarray) -> dict[str, Any]:
        """What the inputs are (``num_features``, or ``in_channels`` and ``seq_len`` / ``image_size``)."""
        raise NotImplementedError

    def as_inputs(self, x: np.ndarray, source: str) -> torch.Tensor:
        """Inputs as the model takes them, before standardisation (a subclass may add a channel axis)."""
        return torch.from_numpy(np.ascontiguousarray(x)).float()

    # --- the shared setup ---------------------------------------------------------------------------
    @property
    def kind(self) -> str | None:
        """What the tasks check (regression / binary / classification): a two-class set suits both classifiers."""
        if self.task == CLASSIFICATION and self.num_classes == 2:
            return "binary"
        return self.task

    def setup(self) -> None:
        parts = self.read()
        targets = self._encode_targets(parts)
        inputs = {name: self.as_inputs(part.x, part.source) for name, part in parts.items()}
        agree(self, self.shape_facts(inputs["train"].numpy()), parts["train"].source)
        rows = split_rows(len(targets["train"]), targets["train"].numpy() if self.task == CLASSIFICATION else None,
                          self.val_fraction, self.test_fraction, self.seed, parts["train"].source,
                          cut=tuple(name for name in ("val", "test") if name not in parts))
        for name, chosen in rows.items():
            if name != "train":
                inputs[name], targets[name] = inputs["train"][chosen], targets["train"][chosen]
        inputs["train"], targets["train"] = inputs["train"][rows["train"]], targets["train"][rows["train"]]
        for name in SPLITS:  # a split the files give may be empty too
            if len(targets[name]) == 0:
                raise UserError(empty_split(name, parts.get(name, parts["train"]).source))
        scale_x, scale_y = self._fit_standardizers(inputs["train"], targets["train"])
        self.train_dataset, self.val_dataset, self.test_dataset = (
            TensorDataset(scale_x(inputs[name]), scale_y(targets[name])) for name in SPLITS)

    def _encode_targets(self, parts: dict[str, Part]) -> dict[str, torch.Tensor]:
        """Targets per split: class indices (int64), or real values (float32) for regression."""
        source = parts["train"].source
        for part in parts.values():
            if part.y.ndim == 2 and part.y.shape[1] == 1:  # a column vector (N, 1): one target per example
                part.y = part.y[:, 0]
            if part.y.ndim != 1:
                raise UserError(f"{part.source} has targets of shape {part.y.shape[1:]} per example; give one "
                                "label or value per example (y of shape (N,)).")
        every = np.concatenate([part.y for part in parts.values()])
        self.task = task_of(every, self.task, source)
        if self.task == REGRESSION:
            return {name: torch.from_numpy(part.y.astype(np.float32)) for name, part in parts.items()}
        labels, self.class_names = encode_labels(every, self.class_names, source)
        check_several_classes(self.class_names, source)
        agree(self, {"num_classes": len(self.class_names)}, source)
        bounds = np.cumsum([0] + [len(part.y) for part in parts.values()])
        return {name: torch.from_numpy(labels[start:stop]) for name, start, stop in zip(parts, bounds, bounds[1:])}

    def _fit_standardizers(self, x: torch.Tensor, y: torch.Tensor) -> tuple[Callable, Callable]:
        """The inputs' and a regression target's standardisation: the given numbers, else fitted on ``x``, ``y``."""
        scale_x, scale_y = _unchanged, _unchanged
        if self.standardize:
            scale_x = self.feature_scale() or Standardizer(x)
            self.feature_mean, self.feature_std = scale_x.mean.tolist(), scale_x.std.tolist()
        if self.task == REGRESSION:  # the regression task reports its errors in the target's own units again
            if self.target_mean is None or self.target_std is None:
                fitted = Standardizer(y.unsqueeze(1))
                self.target_mean, self.target_std = float(fitted.mean), float(fitted.std)
            target = Standardizer(mean=[self.target_mean], std=[self.target_std])

            def scale_y(values: torch.Tensor) -> torch.Tensor:
                return target(values.unsqueeze(1)).squeeze(1)
        return scale_x, scale_y

    def feature_scale(self) -> Standardizer | None:
        """The standardisation of earlier numbers (the checkpoint's config), if given."""
        if self.feature_mean is None or self.feature_std is None:
            return None
        return Standardizer(mean=self.feature_mean, std=self.feature_std)

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"task": self.task}
        if self.task == CLASSIFICATION:
            facts.update(num_classes=len(self.class_names), class_names=self.class_names)
        else:
            facts.update(target_mean=self.target_mean, target_std=self.target_std)
        if self.standardize:
            facts.update(feature_mean=self.feature_mean, feature_std=self.feature_std)
        return facts

    # --- mode=predict -------------------------------------------------------------------------------
    def prediction_samples(self, files: Sequence[Path]) -> SampleBatch:
        """Every example of ``files``, prepared as the training inputs were, with its file and row."""
        chunks, sources = [], []
        for path in files:
            x = self.as_inputs(self.read_inputs(path), str(path))
            expected = self.sample_shape()
            if tuple(x.shape[1:]) != expected:
                raise UserError(f"{path} holds inputs of shape {tuple(x.shape[1:])}, and the model was trained on "
                                f"{expected}; give inputs shaped as the training data was.")
            chunks.append(x)
            sources += [{"file": str(path), "row": row} for row in range(len(x))]
        x = torch.cat(chunks)
        scale = self.feature_scale() if self.standardize else None
        return SampleBatch(sources, scale(x) if scale else x)

    def sample_shape(self) -> tuple[int, ...]:
        raise NotImplementedError


def _unchanged(values: torch.Tensor) -> torch.Tensor:
    return values


