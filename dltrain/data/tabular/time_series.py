"""The notes' time series: a noisy sine, x_t = sin(0.01 t) + noise, t = 1..num_steps (d2l, 9.1).

Generated from ``seed`` (no files). Features are the previous ``tau`` values
(the autoregressive window), the target the value that follows. The series is
split in time: the first ``train_fraction`` trains, the next ``val_fraction``
validates, the rest tests; a window may reach back into the previous part (those
values are the observed past), its targets never reach into the next.

Items are ``(window (tau,), future (horizon,))``: ``future[k-1]`` is the value
k steps after the window, so the task can score k-step-ahead predictions. The
training part uses ``horizon = 1``; validation and test ``max_horizon``.
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from dltrain.data.core.base import DataModule
from dltrain.errors import UserError


class SeriesWindows(Dataset):
    """Windows of ``series`` whose first predicted value lies in ``[start, stop)``."""

    def __init__(self, series: torch.Tensor, tau: int, start: int, stop: int, horizon: int) -> None:
        self.series, self.tau, self.horizon = series, tau, horizon
        self.first = max(start, tau)
        self.last = stop - horizon  # the last first-target whose whole future lies before ``stop``

    def __len__(self) -> int:
        return max(0, self.last - self.first + 1)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.first + index
        return self.series[t - self.tau: t], self.series[t: t + self.horizon]


def noisy_sine(num_steps: int, noise_std: float, seed: int) -> torch.Tensor:
    """x_t = sin(0.01 t) + N(0, noise_std^2), t = 1..num_steps."""
    time = torch.arange(1, num_steps + 1, dtype=torch.float32)
    noise = torch.randn(num_steps, generator=torch.Generator().manual_seed(seed)) * noise_std
    return torch.sin(0.01 * time) + noise


class SineData(DataModule):
    def __init__(
        self,
        tau: int = 4,
        num_steps: int = 1000,
        noise_std: float = 0.2,
        train_fraction: float = 0.6,
        val_fraction: float = 0.2,
        max_horizon: int = 64,
        **loader_options,
    ) -> None:
        super().__init__(**loader_options)
        self.tau, self.num_steps, self.noise_std = tau, num_steps, noise_std
        self.train_fraction, self.val_fraction, self.max_horizon = train_fraction, val_fraction, max_horizon
        self.series: torch.Tensor | None = None

    def setup(self) -> None:
        self.series = noisy_sine(self.num_steps, self.noise_std, self.seed)
        train_end = int(self.num_steps * self.train_fraction)
        val_end = int(self.num_steps * (self.train_fraction + self.val_fraction))
        if min(val_end - train_end, self.num_steps - val_end) <= self.max_horizon:
            raise UserError(f"The validation and test parts must be longer than data.max_horizon={self.max_horizon} "
                            "steps; raise data.num_steps or lower data.max_horizon.")
        self.train_dataset = SeriesWindows(self.series, self.tau, 0, train_end, 1)
        self.val_dataset = SeriesWindows(self.series, self.tau, train_end, val_end, self.max_horizon)
        self.test_dataset = SeriesWindows(self.series, self.tau, val_end, self.num_steps, self.max_horizon)
