"""Checkpoint files: atomic writes, safe loads, and finding the newest ``last.ckpt``.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts,
so it loads with ``torch.load(weights_only=True)`` (no arbitrary pickles).
Writes go to a temporary file in the same folder, are fsync'ed, then renamed
over the target: a crash mid-write (SIGKILL after a preemption's grace period,
a power cut) leaves the previous file whole, and ``find_last`` never picks a
temporary file (tested in tests/test_preemption.py).
"""
from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from dltrain.checkpoint import legacy
from dltrain.errors import UserError

FORMAT = "dltrain-checkpoint/1"


def save(state: dict[str, Any], path: Path, also: Sequence[Path] = ()) -> None:
    """Write ``state`` to ``path`` atomically; the same file also under each of ``also`` (a hard link where the
    file system allows, else a copy), all of them in place before ``path`` is.

    So ``save(state, last, also=[best])`` never leaves a ``last.ckpt`` whose best epoch is newer than the
    ``best.ckpt`` on disk, and writes the bytes once. A failed write (a full disk, a read-only folder) removes
    its partial files and ends in one sentence; the files written before are left as they were.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = [_temporary(path)]
    try:
        with partial[0].open("wb") as handle:
            torch.save({"format": FORMAT, **state}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        for other in also:
            partial.append(_temporary(other))
            try:
                os.link(partial[0], partial[-1])
            except OSError:  # no hard links here (some network and FAT file systems): a copy
                shutil.copyfile(partial[0], partial[-1])
            os.replace(partial.pop(), other)
        os.replace(partial.pop(), path)
        _fsync_folder(path.parent)  # the renames themselves survive a crash too
    except OSError as error:
        for leftover in partial:
            leftover.unlink(missing_ok=True)
        reason = "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or type(error).__name__)
        raise UserError(f"Could not write {path.name} in {path.parent} ({reason}); the checkpoints written before "
                        "are intact: free space or fix the folder, then resume with ckpt_path=last.") from None


def save_weights(weights: dict[str, torch.Tensor], path: Path) -> None:
    """A plain ``state_dict`` (no format marker: ``model.load_state_dict(torch.load(path, weights_only=True))``
    takes it as it is), written atomically like a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    try:
        torch.save({name: tensor.detach().cpu() for name, tensor in weights.items()}, temporary)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UserError(f"Could not write {path.name} in {path.parent} ({error.strerror or type(error).__name__}); "
                        "the checkpoints beside it are intact.") from None


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_partial_writes(folder: Path) -> list[Path]:
    """Delete what writes cut short by a kill left behind (``.last.ckpt.<pid>.tmp``); returns what was removed.

    Called when a run starts writing into a folder, where no other process writes (one run, one folder)."""
    removed = [p for p in folder.glob(".*.tmp") if p.is_file()]
    for leftover in removed:
        leftover.unlink(missing_ok=True)
    return removed


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Checkpoint {path} does not exist; pass the path of a last.ckpt or best.ckpt, or ckpt_path=last.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UserError(
            f"{path} is not a readable dltrain checkpoint ({type(error).__name__}): it is truncated, corrupt, "
            "or was written by another tool; pass a last.ckpt or best.ckpt written by dltrain."
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(
            f"{path} is a PyTorch file but not a dltrain checkpoint (no '{FORMAT}' marker); "
            "pass a last.ckpt or best.ckpt written by dltrain (plain weights load with model.init_from where supported)."
        )
    return legacy.upgrade(state)  # a checkpoint of an older layout reads as today's


def find_last(output_dir: Path, task_name: str, exclude: Path | None = None) -> Path:
    """The newest ``last.ckpt`` under ``outputs/<task_name>/`` (single runs and sweeps).

    Only files named exactly ``last.ckpt`` count: a write cut short leaves ``.last.ckpt.<pid>.tmp`` beside it.
    """
    candidates = [p for p in (output_dir / task_name).rglob("checkpoints/last.ckpt")
                  if p.is_file() and exclude not in p.parents]
    if not candidates:
        raise UserError(
            f"ckpt_path=last found no last.ckpt under {output_dir / task_name}; train first, "
            "or pass ckpt_path=PATH (runs are grouped by task_name, the model and data names by default)."
        )
    return max(candidates, key=lambda p: p.stat().st_mtime)
