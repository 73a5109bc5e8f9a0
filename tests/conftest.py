"""Fixtures shared by every test; plain helper functions are in helpers.py."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch
from helpers import run_dltrain

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest runs one xdist worker per CPU (pyproject.toml): one thread each, for this process and the dltrain /
    # torchrun processes it starts (two threads per worker would make the workers wait on each other's cores)
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture
def cli(tmp_path: Path):
    def call(*args: str, ok: bool = True, timeout: int = 600, fresh: bool = False) -> subprocess.CompletedProcess:
        result = run_dltrain(*args, cwd=tmp_path, timeout=timeout, fresh=fresh)
        if ok and result.returncode != 0:
            raise AssertionError(f"dltrain {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    call.root = tmp_path
    return call
