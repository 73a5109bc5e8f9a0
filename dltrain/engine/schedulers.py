"""Learning-rate schedules, all stepped once per optimizer step.

Every factory takes the optimizer plus ``total_steps`` and ``steps_per_epoch``
(the trainer supplies them) and the config's own keys, so a schedule written
in epochs ("decay at epoch 30") becomes the same staircase in steps. The
exception is ``plateau``, which the trainer steps after each validation with
the monitored metric.

Resuming with a larger ``trainer.max_epochs`` rebuilds the schedule for the new
length and continues from the saved step (LambdaLR keeps only the step count
in its state), so cosine stretches to the new end rather than restarting.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR, ReduceLROnPlateau


def _warmup(step: int, warmup_steps: int) -> float:
    """Linear warm-up from 1/warmup_steps of the base rate to the full rate."""
    return (step + 1) / warmup_steps if step < warmup_steps else 1.0


def constant(optimizer: Optimizer, total_steps: int, steps_per_epoch: int, warmup_steps: int = 0) -> LambdaLR:
    return LambdaLR(optimizer, lambda step: _warmup(step, warmup_steps))


def cosine(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int = 0,
    warmup_epochs: float = 0.0,
    eta_min_ratio: float = 0.0,
) -> LambdaLR:
    """Linear warm-up, then half a cosine from the base rate down to ``eta_min_ratio * base``."""
    return _warmup_then_decay(optimizer, total_steps, steps_per_epoch, warmup_steps, warmup_epochs, eta_min_ratio,
                              lambda progress: 0.5 * (1 + math.cos(math.pi * progress)))


def linear(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int = 0,
    warmup_epochs: float = 0.0,
    eta_min_ratio: float = 0.0,
) -> LambdaLR:
    """Linear warm-up, then a straight line down to ``eta_min_ratio * base`` at the last step (the triangle
    of the fast CIFAR-10 schedules, Page 2018)."""
    return _warmup_then_decay(optimizer, total_steps, steps_per_epoch, warmup_steps, warmup_epochs, eta_min_ratio,
                              lambda progress: 1 - progress)


def _warmup_then_decay(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int,
    warmup_epochs: float,
    eta_min_ratio: float,
    shape: Callable[[float], float],
) -> LambdaLR:
    """Linear warm-up over the longer of the two warm-up settings, then ``shape`` (1 -> 0 as training
    progresses 0 -> 1) scaled between the base rate and ``eta_min_ratio * base``."""
    warmup = max(warmup_steps, round(warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if step < warmup:
            return _warmup(step, warmup)
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return eta_min_ratio + (1 - eta_min_ratio) * shape(progress)

    return LambdaLR(optimizer, factor)


def cosine_restarts(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    first_cycle_epochs: float = 10,
    cycle_mult: float = 2.0,
    eta_min_ratio: float = 0.0,
) -> LambdaLR:
    """SGDR (Loshchilov & Hutter 2017): cosine cycles that restart, each ``cycle_mult`` times longer."""
    first = max(1, round(first_cycle_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        start, length = 0, first
        while step >= start + length:
            start, length = start + length, max(1, round(length * cycle_mult))
        progress = (step - start) / length
        return eta_min_ratio + (1 - eta_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def step(
    optimizer: Optimizer, total_steps: int, steps_per_epoch: int, step_epochs: int = 30, gamma: float = 0.1
) -> LambdaLR:
    """Multiply the rate by ``gamma`` every ``step_epochs`` epochs."""
    return LambdaLR(optimizer, lambda s: gamma ** (s // (step_epochs * steps_per_epoch)))


def multistep(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    milestones: Sequence[int] = (30, 60, 90),
    gamma: float = 0.1,
) -> LambdaLR:
    """Multiply the rate by ``gamma`` at each milestone epoch."""
    boundaries = [m * steps_per_epoch for m in milestones]
    return LambdaLR(optimizer, lambda s: gamma ** sum(s >= b for b in boundaries))


def exponential(optimizer: Optimizer, total_steps: int, steps_per_epoch: int, gamma: float = 0.95) -> LambdaLR:
    """Multiply the rate by ``gamma`` after every epoch."""
    return LambdaLR(optimizer, lambda s: gamma ** (s // steps_per_epoch))


def onecycle(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    max_lr_factor: float = 10.0,
    pct_start: float = 0.3,
) -> OneCycleLR:
    """One-cycle (Smith 2018): warm up to ``max_lr_factor`` times the optimizer's lr, then anneal."""
    max_lrs = [group["lr"] * max_lr_factor for group in optimizer.param_groups]
    return OneCycleLR(optimizer, max_lr=max_lrs, total_steps=total_steps, pct_start=pct_start)


def plateau(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    mode: str = "max",
    factor: float = 0.1,
    patience: int = 5,
) -> ReduceLROnPlateau:
    """Divide the rate when the monitored validation metric stops improving."""
    return ReduceLROnPlateau(optimizer, mode=mode, factor=factor, patience=patience)


def load_state_for_new_length(scheduler: LRScheduler | ReduceLROnPlateau, state: dict, total_steps: int) -> None:
    """Restore a saved schedule's position into one rebuilt for ``total_steps``."""
    scheduler.load_state_dict(state)
    if isinstance(scheduler, OneCycleLR):  # OneCycleLR stores its length; keep the rebuilt one
        scheduler.total_steps = total_steps
