"""The random generators' states as checkpoint-safe types (tensors, numbers, lists), for an exact resume."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def capture_rng() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) generator states as checkpoint-safe types."""
    version, keys, gauss = random.getstate()
    kind, np_keys, position, has_gauss, cached = np.random.get_state()
    state = {
        # the 625 numbers as one tensor: as a list, torch.save pickled each one (half of an MLP checkpoint's time)
        "python": [version, torch.tensor(keys, dtype=torch.int64), gauss],
        "numpy": {"kind": kind, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(position),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, keys, gauss = state["python"]
    keys = keys.tolist() if isinstance(keys, torch.Tensor) else keys  # a list in checkpoints before 2026-12-06
    random.setstate((version, tuple(keys), gauss))
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
