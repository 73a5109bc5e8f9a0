"""Optimizers, schedules, mixed precision and gradient handling: one place for every task.

The trainer builds one ``Optimization`` per run. In automatic mode the trainer
calls ``backward`` and ``step`` itself; a task with several optimizers (GANs)
gets the same object in ``training_step`` and calls them per optimizer, so
loss scaling (fp16), accumulation, clipping and the schedule behave the same
for every family.
"""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from dltrain.engine.schedulers import load_state_for_new_length

PRECISIONS = {"32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# optimizers with a fused kernel on a CPU and on CUDA: one call updates every tensor of a step
FUSABLE = (torch.optim.Adam, torch.optim.AdamW)


def fused_where_it_applies(optimizer_factory: Callable, device_type: str) -> Callable:
    """Adam and AdamW in their fused kernel on a CPU or CUDA device, unless the config chose an implementation
    (``optimizer.fused`` / ``optimizer.foreach``). PyTorch's own default on a CPU loops over the tensors: 5-8x
    slower per step for an 11M-parameter model, 15% of a DeepLab-v3 step on the generated shapes
    (scripts/bench_optimizer.py). The result agrees to float precision, not bitwise."""
    keywords = getattr(optimizer_factory, "keywords", {})
    chosen = keywords.get("fused") is not None or keywords.get("foreach") is not None
    if getattr(optimizer_factory, "func", None) in FUSABLE and device_type in ("cpu", "cuda") and not chosen:
        return functools.partial(optimizer_factory, fused=True)
    return optimizer_factory


def parameter_groups(
    named_parameters: Iterable[tuple[str, nn.Parameter]], weight_decay: float, decay_norm_and_bias: bool
) -> list[dict]:
    """Split parameters so norm weights and biases (1-D tensors) get no weight decay.

    Decaying them only pulls normalisation scales and offsets towards zero;
    like most modern recipes we exempt them unless asked.
    """
    decay, no_decay = [], []
    for name, parameter in named_parameters:
        if not parameter.requires_grad:
            continue
        exempt = weight_decay and not decay_norm_and_bias and parameter.ndim <= 1
        (no_decay if exempt else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:  # without weight decay one group does: the optimizer's per-group work is done once
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def autocast(device_type: str, precision: str) -> contextlib.AbstractContextManager:
    """The mixed-precision context of ``trainer.precision`` (fp32: none): training and every evaluation use it."""
    if str(precision) == "32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=PRECISIONS[str(precision)])


def _parameters(optimizer: torch.optim.Optimizer) -> list[nn.Parameter]:
    return [p for group in optimizer.param_groups for p in group["params"]]


class Optimization:
    def __init__(
        self,
        optimizers: dict[str, torch.optim.Optimizer],
        schedulers: dict[str, object],
        device_type: str,
        precision: str = "32",
        accumulate_grad_batches: int = 1,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str = "norm",
    ) -> None:
        self.optimizers = optimizers
        self.schedulers = schedulers
        self.device_type = device_type
        self.precision = precision
        self.dtype = PRECISIONS[precision]
        self.scaler = torch.amp.GradScaler(device_type, enabled=precision == "fp16")
        self.accumulate = accumulate_grad_batches
        self.clip_val = gradient_clip_val
        self.clip_algorithm = gradient_clip_algorithm
        self.is_boundary = True  # set by the trainer: does this micro-batch end an accumulation window?
        self.is_window_start = True
        # DDP for tasks that step their optimizers themselves: averages an optimizer's gradients over the ranks
        # just before it steps (distributed.py); None in a single process
        self.reduce_gradients: Callable[[list[torch.Tensor]], None] | None = None
        self._stepped = False

    @classmethod
    def build(
        cls,
        groups: dict[str, list[tuple[str, nn.Parameter]]],
        optimizer_factory: Callable,
        scheduler_factory: Callable,
        total_steps: int,
        steps_per_epoch: int,
        decay_norm_and_bias: bool = False,
        **options,
    ) -> "Optimization":
        """One optimizer and one schedule per parameter group the task names."""
        weight_decay = optimizer_factory.keywords.get("weight_decay", 0.0)
        optimizer_factory = fused_where_it_applies(optimizer_factory, options.get("device_type", "cpu"))
        optimizers = {
            name: optimizer_factory(parameter_groups(named, weight_decay, decay_norm_and_bias))
            for name, named in groups.items()
        }
        schedulers = {
            name: scheduler_factory(optimizer=opt, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
            for name, opt in optimizers.items()
        }
        return cls(optimizers, schedulers, **options)

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device_type, self.precision)

    def backward(self, loss: torch.Tensor, name: str = "model") -> None:
        """Scale the loss for fp16 and accumulation, clear old gradients at a window's start."""
        if self.is_window_start:
            self.optimizers[name].zero_grad(set_to_none=True)
        if self.accumulate > 1:  # average over the window (skipped otherwise: one tensor op less per step)
            loss = loss / self.accumulate
        self.scaler.scale(loss).backward()

    def step(self, name: str = "model") -> bool:
        """Clip, step and schedule one optimizer if this micro-batch ends a window; True if stepped."""
        if not self.is_boundary:
            return False
        optimizer = self.optimizers[name]
        if self.reduce_gradients is not None:  # before unscaling: an fp16 overflow on one rank skips the step on all
            self.reduce_gradients([p.grad for p in _parameters(optimizer) if p.grad is not None])
        if self.clip_val:
            self.scaler.unscale_(optimizer)
            params = _parameters(optimizer)
            if self.clip_algorithm == "value":
                torch.nn.utils.clip_grad_value_(params, self.clip_val)
            else:
                torch.nn.utils.clip_grad_norm_(params, self.clip_val)
        self.scaler.step(optimizer)
        scheduler = self.schedulers.get(name)
        if scheduler is not None and not isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step()
        self._stepped = True
        return True

    def end_iteration(self) -> None:
        """Update the fp16 loss scale once per iteration, after all optimizers stepped."""
        if self._stepped:
            self.scaler.update()
            self._stepped = False

    def step_plateau(self, metrics: dict[str, float], monitor: str) -> None:
        for scheduler in self.schedulers.values():
            if isinstance(scheduler, ReduceLROnPlateau) and monitor in metrics:
                scheduler.step(metrics[monitor])

    def learning_rates(self) -> dict[str, float]:
        """``train/lr`` (``train/lr/<optimizer>`` for several): logged beside the loss, in TensorBoard's train section."""
        single = len(self.optimizers) == 1
        return {
            "train/lr" if single else f"train/lr/{name}": opt.param_groups[0]["lr"]
            for name, opt in self.optimizers.items()
        }

    def state_dict(self) -> dict:
        return {
            "types": {n: type(o).__name__ for n, o in self.optimizers.items()},
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict, total_steps: int) -> None:
        """Restore a checkpoint's optimizer / schedule / scaler state into this run's objects.

        A learning rate changed on the command line since the checkpoint was
        written wins: the restored schedule is rescaled to the new base rate.
        """
        for name, optimizer in self.optimizers.items():
            if state["types"].get(name) != type(optimizer).__name__:
                raise ValueError(f"it holds {state['types'].get(name)} state for '{name}', this run uses "
                                 f"{type(optimizer).__name__}")
        configured = {name: list(s.base_lrs) for name, s in self.schedulers.items() if hasattr(s, "base_lrs")}
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        for name, scheduler in self.schedulers.items():
            load_state_for_new_length(scheduler, state["schedulers"][name], total_steps)
            if name in configured and configured[name] != list(scheduler.base_lrs):
                for group, old, new in zip(self.optimizers[name].param_groups, scheduler.base_lrs, configured[name]):
                    group["lr"] *= new / old
                    group["initial_lr"] = new
                scheduler.base_lrs = configured[name]
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
