"""The lock of a running run: ``.running.json`` in its directory names the process (pid, host) that trains it.

``ckpt_path=last`` never continues a run whose lock names a live process, and ``dltrain runs`` shows it as
running; a lock whose process is gone is stale (a killed run). No torch here: ``dltrain runs`` reads locks.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

RUN_LOCK = ".running.json"


def hold_lock(run_dir: Path) -> None:
    """Mark ``run_dir`` as trained by this process (rank 0), until ``release_lock``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RUN_LOCK).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))


def release_lock(run_dir: Path) -> None:
    lock = run_dir / RUN_LOCK
    try:
        if json.loads(lock.read_text()).get("pid") == os.getpid():
            lock.unlink()
    except (OSError, ValueError):
        pass


def running_process(run_dir: Path) -> str:
    """'pid N on HOST' when a live process holds the run's lock; '' when none does (or it died)."""
    try:
        holder = json.loads((run_dir / RUN_LOCK).read_text())
    except (OSError, ValueError):
        return ""
    pid, host = holder.get("pid"), holder.get("host")
    if pid == os.getpid():
        return ""
    if host != socket.gethostname():  # another machine's process cannot be checked from here: assume it runs
        return f"pid {pid} on {host}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ""  # stale: the process was killed
    except PermissionError:
        pass
    return f"pid {pid}"
