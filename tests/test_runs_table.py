"""`dltrain runs`: the table of runs (finished / running / failed / preempted), its filters and sort, and
`--compare` drawing several runs' curves into one PNG; it answers without importing torch."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import run_dirs
from PIL import Image

from dltrain.launch.run_lock import RUN_LOCK
from dltrain.visuals import results_plot

QUICK = ["trainer.log_histograms=false", "trainer.enable_progress_bar=false", "trainer.max_epochs=2"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Two finished runs (an MLP and a softmax regression) from the command line, and runs that are running, failed,
    preempted or cross-validated (copies of the MLP's record, as those states leave them)."""
    from helpers import run_dltrain

    root = tmp_path_factory.mktemp("runs")
    for overrides in (["optimizer.lr=0.01"], ["model=softmax_regression"]):  # as a user trains: .hydra/ is written
        assert run_dltrain(*QUICK, *overrides, cwd=root).returncode == 0
    (mlp,) = run_dirs(root, "mlp_digits")

    def copy(name: str, drop_results: bool = True):
        folder = mlp.parent / name
        shutil.copytree(mlp, folder)
        if drop_results:
            (folder / "results.json").unlink()
        return folder

    running = copy("2030-01-01_10-00-00_running")
    (running / RUN_LOCK).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    failed = copy("2030-01-01_11-00-00_failed")
    shutil.rmtree(failed / "checkpoints")
    with (failed / "train.log").open("a") as log:
        log.write("dltrain: error: The training loss became nan at step 3 (epoch 1)\n")
    preempted = copy("2030-01-01_12-00-00_preempted")
    with (preempted / "train.log").open("a") as log:
        log.write("SIGTERM received: saved last.ckpt at epoch 2 after batch 3 (step 23); resume with ckpt_path=last\n")
    cross_validated = copy("2030-01-01_14-00-00_cv")  # cv.folds=K: cv_summary.json instead of results.json
    shutil.rmtree(cross_validated / "checkpoints")
    (cross_validated / "cv_summary.json").write_text(json.dumps({"best/mean": 0.5, "best/std": 0.1}))
    (debug := root / "outputs" / "debug" / "mlp_digits" / "2030-01-01_13-00-00_debug").mkdir(parents=True)
    shutil.copytree(mlp / ".hydra", debug / ".hydra")
    return root


def dltrain_runs(root, *args):
    from helpers import run_dltrain

    result = run_dltrain("runs", *args, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def path_of(line: str) -> str:
    return next(word for word in line.split() if word.startswith("outputs/"))


def test_the_table_shows_each_run_with_its_status_epochs_and_best(outputs):
    lines = dltrain_runs(outputs).splitlines()
    assert lines[0].split() == ["date", "run", "status", "epochs", "best", "best", "epoch", "path", "overrides"]
    by_folder = {path_of(line).split("/")[-1]: line for line in lines[1:]}
    assert len(by_folder) == 6  # the debug run is not a run of the table
    statuses = {name.split("_")[-1]: line for name, line in by_folder.items()}
    assert " running " in statuses["running"] and " failed " in statuses["failed"]
    assert " preempted " in statuses["preempted"]
    finished = [line for line in lines[1:] if " finished " in line and "_cv" not in path_of(line)]
    assert len(finished) == 2 and any("optimizer.lr=0.01" in line for line in finished)
    mlp_line = next(line for line in finished if "optimizer.lr=0.01" in line)
    best = json.loads((run_dirs(outputs, "mlp_digits")[0] / "results.json").read_text())
    assert "mlp_digits" in mlp_line and f"val/acc={best['best']:.4g}" in mlp_line
    assert mlp_line.split()[mlp_line.split().index("finished") + 1] == "2"  # epochs done
    assert f" {best['best_epoch']} " in mlp_line  # the best epoch, counted from 1
    assert "2030-01-01 12:00:00" in statuses["preempted"]  # the date from the folder's name
    assert " finished " in statuses["cv"] and "val/acc=0.5 " in statuses["cv"]  # the folds' mean best


def test_filters_and_sort(outputs):
    softmax = dltrain_runs(outputs, "--model", "softmax_regression").splitlines()
    assert len(softmax) == 2 and "softmax_regression_digits" in softmax[1]
    assert len(dltrain_runs(outputs, "--model", "mlp", "--data", "digits").splitlines()) == 1 + 5
    assert len(dltrain_runs(outputs, "--data", "cifar*").splitlines()) == 0  # nothing matches: said on stderr
    by_best = dltrain_runs(outputs, "--sort", "best").splitlines()[1:]
    values = [float(line.split("val/acc=")[1].split()[0]) for line in by_best if "val/acc=" in line]
    assert values == sorted(values, reverse=True) and len(values) == 6
    by_date = dltrain_runs(outputs, "--sort", "date").splitlines()[1:]
    assert [line[:19] for line in by_date] == sorted(line[:19] for line in by_date)


def test_compare_draws_the_runs_curves_into_one_png(outputs):
    mlp, softmax = run_dirs(outputs, "mlp_digits")[0], run_dirs(outputs, "softmax_regression_digits")[0]
    printed = dltrain_runs(outputs, "--compare", str(mlp), str(softmax)).strip()
    path = outputs / printed if not printed.startswith("/") else printed
    with Image.open(path) as image:
        families = results_plot.panels([results_plot.read_curves(mlp), results_plot.read_curves(softmax)])
        assert image.size == results_plot.figure_size(len(families))
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50


def test_compare_of_a_name_that_is_no_run_is_one_sentence(outputs):
    from helpers import run_dltrain

    result = run_dltrain("runs", "--compare", "no_such_run", cwd=outputs)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no_such_run is not a run directory" in result.stderr


def test_the_table_is_read_without_torch(outputs):
    code = ("import sys, dltrain.cli; sys.argv = ['dltrain', 'runs', 'outputs']\n"
            "try:\n    dltrain.cli.main()\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, 'hydra' in sys.modules and 'hydra.main' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=outputs, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1].startswith("False")
