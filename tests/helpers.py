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


def run_dltrain(*args: str, cwd: Path, timeout: int = 600, fresh: bool = False) -> subprocess.CompletedProcess:
    """``dltrain ARGS`` as a user types it, in ``cwd`` (so outputs/ lands there): its own process, exit status,
    stdout and stderr. The process is forked from one that has imported torch and dltrain already (a fresh
    ``dltrain`` spends ~5 s importing; the fast suite starts a hundred): the same ``main()`` the installed command
    calls, argv, environment, working directory and signals as a new process has. ``fresh``: the installed
    command itself, a new interpreter (for what start-up does)."""
    env = {**os.environ, "DLTRAIN_DATA_DIR": str(cwd / "data"), "DLTRAIN_OUTPUT_DIR": str(cwd / "outputs")}
    if fresh:
        return subprocess.run([DLTRAIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return _forked_dltrain(list(args), cwd, env, timeout)


# imported once by the fork server of each test process, so that every forked dltrain has them already; nothing
# runs there (no generator drawn, no thread started), so each child begins as a freshly imported program would
ZYGOTE_IMPORTS = ["torch", "torch._dynamo", "torchvision", "torch.utils.tensorboard", "matplotlib.pyplot",
                  "hydra", "dltrain.cli", "dltrain.launch.run"]


def _forked_dltrain(args: list[str], cwd: Path, env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    import multiprocessing
    import tempfile

    context = multiprocessing.get_context("forkserver")  # a clean process to fork from, not this test process
    context.set_forkserver_preload(ZYGOTE_IMPORTS)
    with tempfile.TemporaryDirectory() as streams:
        out, err = Path(streams, "stdout"), Path(streams, "stderr")
        process = context.Process(target=_dltrain_main, args=(args, str(cwd), env, str(out), str(err)),
                                  name="dltrain")
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired([DLTRAIN, *args], timeout, out.read_text(), err.read_text())
        return subprocess.CompletedProcess([DLTRAIN, *args], process.exitcode, out.read_text(), err.read_text())


def _dltrain_main(args: list[str], cwd: str, env: dict[str, str], stdout: str, stderr: str) -> None:
    """The forked child: what the ``dltrain`` script does, with its streams in two files. Exit status as Python
    gives it (``multiprocessing`` maps SystemExit the same way; a signal's death is -signal)."""
    import atexit
    import threading

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    # a new interpreter puts PYTHONPATH first on sys.path (a user's own modules, tests/own_data); the server's came
    # from this test process's
    sys.path[:0] = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]
    for fd, path in ((1, stdout), (2, stderr)):  # the descriptors too: what C code and child processes write
        with open(path, "wb") as handle:
            os.dup2(handle.fileno(), fd)
    sys.stdout = open(1, "w", closefd=False)  # flushed by multiprocessing as the child exits
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # line-buffered, as Python's stderr
    sys.argv = [DLTRAIN, *args]
    from dltrain.cli import main

    try:
        main()
    finally:  # what the interpreter does at exit, in its order (multiprocessing's child exit would join the
        # processes it started first: joblib's idle workers then hold it for their 300-s timeout)
        threading._shutdown()  # threading's exit hooks (joblib stops its workers), then the other threads joined
        atexit._run_exitfuncs()  # logging flushed and closed, multiprocessing's children joined, ...


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
