"""What a run leaves in its directory (README, 'A run directory'): metrics.csv one row per epoch counted from 1,
metrics_steps.csv, plots/results.png, checkpoints/weights.pt; evaluations inside the run they evaluate; a failed
command leaves no folder of its own; trainer=debug runs in outputs/debug/."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import torch
from helpers import run_dirs, run_here, train_here
from PIL import Image

from dltrain import api
from dltrain.launch import build
from dltrain.visuals import results_plot

QUICK = ["trainer.log_histograms=false", "trainer.enable_progress_bar=false"]
EMA_RUN = [*QUICK, "trainer.max_epochs=3", "callbacks=ema", "callbacks.ema.decay=0.9"]


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    """A 3-epoch run with EMA, from the command line as a user types it."""
    return run_here(tmp_path_factory.mktemp("ema_run"), *EMA_RUN)


def rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_metrics_csv_has_one_row_per_epoch_counted_from_one(ema_run):
    epochs = rows(ema_run / "metrics.csv")
    assert [int(row["epoch"]) for row in epochs] == [1, 2, 3]
    assert all(row["val/acc"] and row["val/loss"] and row["train/loss_epoch"] for row in epochs)
    ends = [int(row["step"]) for row in epochs]
    assert ends == sorted(ends) and ends[0] > 0  # the optimizer steps taken when each epoch ended
    assert not any(key == "train/loss" or key == "train/lr" for key in epochs[0])  # step values are in their own table
    results = json.loads((ema_run / "results.json").read_text())
    assert results["final"]["epoch"] == 3 and 1 <= results["best_epoch"] <= 3  # 1-based both


def test_metrics_steps_csv_holds_the_logged_steps(ema_run):
    steps = rows(ema_run / "metrics_steps.csv")
    assert steps and all(row["train/loss"] and row["train/lr"] for row in steps)
    numbers = [int(row["step"]) for row in steps]
    assert numbers == sorted(set(numbers)) and all(n % 10 == 0 for n in numbers)  # every log_every_n_steps=10


def test_results_png_draws_loss_metric_and_lr_panels(ema_run):
    path = ema_run / "plots" / "results.png"
    families = results_plot.panels([results_plot.read_curves(ema_run)])
    assert list(families)[0] == "loss" and list(families)[-1] == "lr" and "acc" in families
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == results_plot.figure_size(len(families)) == (1500, 360)  # loss, acc, lr side by side
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50  # lines, not blank


def test_weights_pt_is_the_tested_model_and_scores_the_same(ema_run):
    weights = torch.load(ema_run / "checkpoints" / "weights.pt", weights_only=True)
    best = torch.load(ema_run / "checkpoints" / "best.ckpt", weights_only=True)
    assert set(weights) == set(best["model"])
    for name, tensor in weights.items():  # the EMA weights validation chose the best by, not the raw ones
        torch.testing.assert_close(tensor, best["evaluation_model"][name], rtol=0, atol=0)
    assert any(not torch.equal(weights[k], best["model"][k]) for k in weights)

    cfg = api.compose(EMA_RUN)
    data, task = build.build_data(cfg), build.build_task(cfg)
    task.model.load_state_dict(weights)  # a plain state_dict: what someone given the file does
    task.model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in data.test_dataloader():
            correct += (task.model(images).argmax(1) == labels).sum().item()
            total += len(labels)
    tested = json.loads((ema_run / "results.json").read_text())["test"]["test/acc"]
    assert correct / total == pytest.approx(tested)


def test_the_api_evaluates_into_the_run_it_evaluates(ema_run):
    metrics = api.evaluate(ema_run / "checkpoints" / "best.ckpt")
    (eval_dir,) = ema_run.glob("eval_*")
    assert json.loads((eval_dir / "results.json").read_text())["test"] == metrics


def test_a_failed_command_leaves_no_folder_of_its_own(cli):
    result = cli(*QUICK, "optimizer=sgd", "optimizer.lr=1e12", "trainer.log_every_n_steps=1", ok=False)
    assert result.returncode == 2 and "The training loss became" in result.stderr
    task_folder = cli.root / "outputs" / "mlp_digits"
    assert not task_folder.exists() or not list(task_folder.iterdir())


def test_a_failed_resume_keeps_the_folder_it_continued(cli):
    run_dir = train_here(cli.root, *QUICK, "trainer.max_epochs=1")
    before = (run_dir / "checkpoints" / "last.ckpt").read_bytes()
    result = cli(*QUICK, "trainer.max_epochs=2", f"ckpt_path={run_dir}", "optimizer.lr=1e12", ok=False)
    assert result.returncode == 2
    assert (run_dir / "checkpoints" / "last.ckpt").read_bytes() == before  # the folder and its checkpoint stay
    assert (run_dir / "metrics.csv").is_file() and (run_dir / "results.json").is_file()


def test_debug_runs_go_to_outputs_debug(cli):
    result = cli("trainer=debug")
    (run_dir,) = run_dirs(cli.root, "mlp_digits", debug=True)
    assert str(run_dir) in result.stdout + result.stderr
    assert not (cli.root / "outputs" / "mlp_digits").exists()  # the real runs' folder stays as it was
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "plots").exists()
    assert api.default_run_dir(api.compose(["trainer=debug"])).parent.parent.name == "debug"


def test_importing_the_launcher_does_not_import_matplotlib():
    code = "import sys, dltrain.launch.run, dltrain.cli; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"
