"""An example of your own data module: noisy waveforms (sine, square, sawtooth) to classify.

Used by docs/own_data.md ("Your own code") and run by tests/own_data/test_own_code.py:

    PYTHONPATH=docs/examples/own_data dltrain hydra.searchpath=[file://docs/examples/own_data/configs] \\
        data=waveforms model=cnn1d

A data module needs no more than this file shows: the loader options passed on to ``DataModule``, a
``setup()`` that fills ``train_dataset`` / ``val_dataset`` / ``test_dataset`` with ``(input, label)``
pairs, and ``facts()``, what setup found that models read (here the class names and the signal's shape).
Every fact is also a constructor argument (None: not known yet): the config lists it, and a checkpoint's
config, which stores it, hands it back in ``mode=eval`` / ``mode=predict``; ``agree`` checks the data still
says the same.
"""
from __future__ import annotations

import math

import torch
from torch.utils.data import TensorDataset

from dltrain.data.core.base import DataModule
from dltrain.data.own.facts import agree

SHAPES = ("sine", "square", "sawtooth")


def waveforms(count: int, length: int, noise: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` signals (count, 1, length) of random frequency and phase, and their shape's class."""
    labels = torch.randint(len(SHAPES), (count,), generator=generator)
    cycles = 1 + 3 * torch.rand(count, 1, generator=generator)          # 1 to 4 periods per signal
    phase = torch.rand(count, 1, generator=generator)
    t = (torch.arange(length) / length * cycles + phase) % 1.0           # position within the period, 0..1
    waves = torch.stack([torch.sin(2 * math.pi * t), torch.sign(t - 0.5), 2 * t - 1])  # (3, count, length)
    signals = waves[labels, torch.arange(count)] + noise * torch.randn(count, length, generator=generator)
    return signals.unsqueeze(1), labels


class WaveformData(DataModule):
    def __init__(self, num_train: int = 600, num_val: int = 150, length: int = 64, noise: float = 0.3,
                 num_classes: int | None = None, class_names: list[str] | None = None, in_channels: int | None = None,
                 seq_len: int | None = None, **loader_options) -> None:
        super().__init__(**loader_options)  # batch_size, seed, num_workers...: the base class's options
        self.sizes = {"train": num_train, "val": num_val, "test": num_val}
        self.length, self.noise = length, noise
        self.num_classes, self.class_names, self.in_channels, self.seq_len = num_classes, class_names, in_channels, seq_len

    def setup(self) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        self.train_dataset, self.val_dataset, self.test_dataset = (
            TensorDataset(*waveforms(self.sizes[split], self.length, self.noise, generator))
            for split in ("train", "val", "test"))
        found = {"num_classes": len(SHAPES), "class_names": list(SHAPES), "in_channels": 1, "seq_len": self.length}
        agree(self, found, "data=waveforms")  # sets each fact; one already given must be the same

    def facts(self) -> dict:
        # what the model configs read (${data.num_classes}, ${oc.select:data.in_channels,null}, ...)
        return {"num_classes": self.num_classes, "class_names": self.class_names, "in_channels": self.in_channels,
                "seq_len": self.seq_len}
