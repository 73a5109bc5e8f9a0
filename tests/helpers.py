"""Helpers shared by the test files: run the installed ``dltrain`` command as a user types it, set runs up
in-process, find run directories. (Fixtures live in conftest.py.)"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

DLTRAIN = str(Path(sys.executable).parent / "dltrain")
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    """A module of scripts/ (not a package), e.g. ``load_script("classifier_table")``, for tests of the scripts
    and of what they share with the tests (the classifiers' recipe)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_dltrain(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """``dltrain ARGS`` as a user types it, in ``cwd`` (so outputs/ lands there)."""
    env = {**os.environ, "DLTRAIN_DATA_DIR": str(cwd / "data"), "DLTRAIN_OUTPUT_DIR": str(cwd / "outputs")}
    return subprocess.run([DLTRAIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def run_here(root: Path, *args: str) -> Path:
    """``dltrain ARGS`` as a user types it in ``root``, which must succeed; the one run directory it made."""
    result = run_dltrain(*args, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (p for p in (root / "outputs").glob("*/*") if p.name != "multirun")
    return run_dir


def train_here(root: Path, *overrides: str) -> Path:
    """A run that only sets a test up, trained in this process (a ``dltrain`` process spends seconds importing)
    into the directory the command would use in ``root``: outputs/<task_name>/<date>_<time>_<id>."""
    from dltrain import api

    cfg = api.compose(overrides)
    run_dir = root / "outputs" / cfg.task_name / api.default_run_dir(cfg).name
    api.train(overrides, run_dir=run_dir)
    return run_dir


def run_dirs(root: Path, task_name: str, debug: bool = False) -> list[Path]:
    """Single-run directories under outputs/<task_name>/ (``debug``: outputs/debug/<task_name>/, where
    trainer=debug runs go), oldest first."""
    folder = root / "outputs" / ("debug" if debug else "") / task_name
    return sorted(p for p in folder.iterdir() if p.name != "multirun")
