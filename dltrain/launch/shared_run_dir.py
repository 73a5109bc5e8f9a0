"""One run directory for all torchrun processes of a run.

Hydra names the run directory in every process by itself (``${now:...}`` and
a random id), so two ranks started a second apart would write to two folders.
Instead rank 0 composes the config as usual and publishes its run directory
in torchrun's key-value store (the rendezvous store every rank can already
reach); the other ranks wait for it before Hydra starts and run with
``hydra.run.dir=<rank 0's directory>``, without writing ``.hydra/`` or
``train.log`` there (rank 0 writes those; other ranks log warnings to the
console only).

Outside torchrun (``WORLD_SIZE`` unset or 1) nothing here does anything.
"""
from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from dltrain.errors import UserError

_KEY = "dltrain/run_dir"
_stores: list = []  # keep the store (and, without torchrun's agent, rank 0's server) alive for the process


def _world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _store():
    """torchrun's store (``env://`` rendezvous: the agent's server, or rank 0's when there is no agent)."""
    import torch.distributed as dist

    if not _stores:
        store, _, _ = next(dist.rendezvous("env://", timeout=timedelta(minutes=30)))
        _stores.append(store)
    return _stores[0]


def _key() -> str:
    # torchrun may restart the workers (--max-restarts): each attempt is a run of its own
    return f"{_KEY}/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"


def follow_rank_zero(argv: list[str]) -> list[str]:
    """On ranks > 0: the command-line overrides that put this process into rank 0's run directory."""
    rank, world = _world()
    if world <= 1:
        return argv
    if any(arg in ("-m", "--multirun") for arg in argv):
        raise UserError("Sweeps (-m) cannot run under torchrun; start one torchrun per configuration, or sweep "
                        "single-process runs (dltrain --help performance, 'Many devices').")
    if rank == 0:
        return argv
    published = json.loads(_store().get(_key()).decode())
    resumed = [f"ckpt_path={_quoted(published['ckpt_path'])}"] if published["ckpt_path"] else []
    kept = [a for a in argv if not (resumed and a.startswith("ckpt_path="))]
    return [*kept, f"hydra.run.dir={_quoted(published['run_dir'])}", *resumed, "hydra.output_subdir=null",
            "hydra.job_logging.root.handlers=[console]", "hydra.job_logging.root.level=WARNING"]


def _quoted(path: str) -> str:
    text = path.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def publish(run_dir: Path, ckpt_path: str | None) -> None:
    """On rank 0: tell the other ranks where this run writes, and the checkpoint it resumes from (rank 0
    resolved ``ckpt_path=last``; the others must not search while rank 0's run is already running)."""
    rank, world = _world()
    if world > 1 and rank == 0:
        checkpoint = str(Path(str(ckpt_path)).resolve()) if ckpt_path else None
        _store().set(_key(), json.dumps({"run_dir": str(Path(run_dir).resolve()), "ckpt_path": checkpoint}))
