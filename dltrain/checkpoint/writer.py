"""Checkpoint writes off the training loop's critical path (``trainer.async_checkpoint``, on by default).

At an epoch's end the state is copied to CPU memory (``snapshot``: a consistent picture of that moment,
generator states included) and a background thread does the atomic write (temporary file, fsync, rename;
``dltrain.checkpoint.files.save``) while training goes on. At most one write is in flight: the next one
waits for it. The trainer waits for the writer before ``fit`` returns or raises, and before a preemption
exits, so no process ends with a checkpoint half written by its own choice; a SIGKILL mid-write leaves the
previous files whole (the write goes to a temporary file). An error of the background write (a full disk)
is raised in the training thread at the next write or wait, as the same one-sentence ``UserError``.

With ``async_checkpoint=false`` the write happens in the training thread from the live tensors, as before.
torchtitan and torch.distributed.checkpoint write asynchronously for the same reason: on a GPU an epoch can
take seconds, and a synchronous write of a large model a good share of that.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from dltrain.checkpoint import files


def snapshot(value: Any, buffers: dict[str, torch.Tensor], path: str = "",
             copies: dict[int, torch.Tensor] | None = None) -> Any:
    """``value`` with every tensor copied into a CPU buffer of ``buffers`` (kept by its place in the state, reused
    from the last checkpoint when its shape and type still fit); a tensor that appears twice (EMA weights in two
    places) is copied once and stays shared, so the file stores it once.

    The buffers are reused so that a GPU tensor's buffer can be pinned (page-locked memory is slow to allocate,
    and a copy into it runs at the bus's full speed), and so that memory is not allocated and faulted in again at
    every checkpoint.
    """
    copies = {} if copies is None else copies
    if isinstance(value, torch.Tensor):
        if id(value) not in copies:
            buffer = buffers.get(path)
            if buffer is None or buffer.shape != value.shape or buffer.dtype != value.dtype:
                buffer = buffers[path] = torch.empty(value.shape, dtype=value.dtype, pin_memory=value.is_cuda)
            copies[id(value)] = buffer.copy_(value.detach())
        return copies[id(value)]
    if isinstance(value, dict):
        return {k: snapshot(v, buffers, f"{path}/{k}", copies) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if not any(isinstance(v, (torch.Tensor, dict, list, tuple)) for v in value):  # plain numbers, like the
            return value if isinstance(value, tuple) else list(value)  # 625 of Python's generator state: one copy
        return type(value)(snapshot(v, buffers, f"{path}/{i}", copies) for i, v in enumerate(value))
    return value


class CheckpointWriter:
    def __init__(self, background: bool = True) -> None:
        self.background = background
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._buffers: dict[str, torch.Tensor] = {}  # the snapshot's CPU memory, reused once its write is done

    def write(self, state: dict[str, Any], path: Path, also: Sequence[Path] = ()) -> None:
        """Save ``state`` to ``path`` (and ``also``): in the background from a snapshot, or now."""
        self.wait()
        if not self.background:
            files.save(state, path, also)
            return
        state = snapshot(state, self._buffers)  # the live tensors change from the next step on; wait() above
        # made sure the last write is done with the buffers this overwrites
        self._thread = threading.Thread(target=self._save, args=(state, path, tuple(also)),
                                        name="dltrain-checkpoint-writer")
        self._thread.start()

    def _save(self, state: dict[str, Any], path: Path, also: Sequence[Path]) -> None:
        try:
            files.save(state, path, also)
        except BaseException as error:  # handed to the training thread at its next write or wait
            self._error = error

    def wait(self) -> None:
        """Block until the write in flight is on disk; raise its error, if it had one."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise error
