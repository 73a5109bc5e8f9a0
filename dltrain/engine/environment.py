"""Device choice, seeding and determinism: the process-wide state a run sets.

The basic multirun launcher runs every job in one process, so each run
resets these at its start instead of relying on a fresh interpreter.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from dltrain.errors import UserError


def pick_device(accelerator: str) -> torch.device:
    """``auto`` prefers CUDA, then Apple's MPS, then the CPU."""
    if accelerator == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "gpu": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available()}
    if accelerator not in available:
        raise UserError(f"trainer.accelerator={accelerator} is not one of auto, cpu, cuda, mps.")
    if not available[accelerator]:
        raise UserError(
            f"trainer.accelerator={accelerator} but this machine has no such device; "
            "use trainer=default (picks what is there) or trainer=cpu."
        )
    return torch.device("cuda" if accelerator == "gpu" else accelerator)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def set_determinism(deterministic: bool) -> None:
    """Bit-exact reruns: deterministic kernels and no cuDNN autotuning."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if torch.are_deterministic_algorithms_enabled() != deterministic:  # the call imports torch._inductor: 1-2 s
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
