"""Bare `dltrain` as a new user runs it: trains on the offline digits and fills a run directory."""
from __future__ import annotations

import csv
import json

import pytest
from helpers import run_dirs
from tb_reading import hparams_rows
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def test_bare_dltrain_learns_digits_and_writes_a_complete_run_dir(cli):
    result = cli(fresh=True)  # the installed command in a new interpreter, nothing imported before
    (run_dir,) = run_dirs(cli.root, "mlp_digits")
    assert str(run_dir) in result.stdout + result.stderr  # it says where the run went

    results = json.loads((run_dir / "results.json").read_text())
    assert results["best"] > 0.93, results
    assert results["test"]["test/acc"] > 0.9
    assert results["params"] > 0 and results["flops_per_sample"] > 0

    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "weights.pt").is_file() and (run_dir / "plots" / "results.png").is_file()
    assert (run_dir / "train.log").read_text().count("epoch ") >= 20
    assert (run_dir / ".hydra" / "config.yaml").is_file()

    epochs = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert [int(row["epoch"]) for row in epochs] == list(range(1, 21))  # one row per epoch, counted from 1
    assert {"step", "train/loss_epoch", "val/acc", "val/loss"} <= set(epochs[0]) and all(r["val/acc"] for r in epochs)
    steps = list(csv.DictReader((run_dir / "metrics_steps.csv").open()))
    assert {"step", "train/loss", "train/lr"} <= set(steps[0]) and "val/acc" not in steps[0]
    assert results["final"]["epoch"] == 20

    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0, "histograms": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "val/acc", "val/acc_top5", "val/loss", "train/lr", "train/loss_epoch"} <= scalars
    assert {tag.split("/")[0] for tag in scalars} == {"train", "val", "test"}  # SCALARS opens on the curves
    # the run trains for seconds: its pictures in TensorBoard are the test pass's (trainer.visuals_time_share)
    assert {"test/confusion_matrix", "test/predictions"} <= set(events.Tags()["images"])
    histograms = events.Tags()["histograms"]
    assert any(tag.startswith("weights/") for tag in histograms)
    assert any(tag.startswith("weights_grad/") for tag in histograms)
    assert min(tag.split("/")[0] for tag in histograms) > "val"  # TIME SERIES opens on the curves, not histograms
    (hparams_row,) = hparams_rows(run_dir / "tb")  # the best epoch's metrics, for TensorBoard's HPARAMS tab
    assert hparams_row.run_name == "defaults" and hparams_row.hparams == {}  # a bare command sets nothing
    assert hparams_row.metrics["val/acc"][1] == pytest.approx(results["best"], abs=1e-6)
    learning_rates = [e.value for e in events.Scalars("train/lr")]
    assert learning_rates[0] > learning_rates[-1]  # cosine schedule by default
    assert {"confusion_matrix.png", "confusion_matrix_normalized.png", "pr_curves.png"} <= {
        p.name for p in (run_dir / "plots").iterdir()}
    assert len(list(csv.DictReader((run_dir / "per_class.csv").open()))) == 10
