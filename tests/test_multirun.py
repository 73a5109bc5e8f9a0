"""Sweeps: `dltrain -m` runs every job into one sweep folder and writes summary.csv."""
from __future__ import annotations

import csv

import yaml
from tb_reading import hparams_rows
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def test_two_job_multirun_writes_a_summary_row_per_job(cli):
    cli("-m", "optimizer=sgd,adam", "trainer.max_epochs=2", "trainer.log_histograms=false")
    (sweep,) = (cli.root / "outputs" / "mlp_digits" / "multirun").iterdir()
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [row["overrides"].split()[0] for row in rows] == ["optimizer=sgd", "optimizer=adam"]
    assert all("trainer.max_epochs=2" in row["overrides"] for row in rows)
    for row in rows:
        assert 0.0 < float(row["best"]) <= 1.0 and float(row["test/acc"]) > 0.1
        assert row["best_epoch"] in ("1", "2")
    # each job has its own TensorBoard folder under the sweep: `tensorboard --logdir` overlays them
    for job, optimizer in (("0", "sgd"), ("1", "adam")):
        events = EventAccumulator(str(sweep / job / "tb")).Reload()
        assert "val/acc" in events.Tags()["scalars"]
        # HPARAMS: one row per job, named after what the command line and the sweep set, with those keys only
        (row,) = hparams_rows(sweep / job / "tb")
        job_overrides = yaml.safe_load((sweep / job / ".hydra" / "overrides.yaml").read_text())  # as Hydra wrote
        assert job_overrides[0] == f"optimizer={optimizer}" and row.run_name == ",".join(job_overrides)  # them
        assert row.hparams == {"optimizer": optimizer, "trainer.max_epochs": 2, "trainer.log_histograms": False}


def test_optuna_search_runs_trials_and_reports_the_best(cli):
    result = cli("-m", "hparams_search=optuna_lr", "hydra.sweeper.n_trials=2", "trainer=debug")
    assert "Best value" in result.stdout + result.stderr
    (sweep,) = (cli.root / "outputs" / "debug" / "mlp_digits" / "multirun").iterdir()
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert len(rows) == 2 and all("optimizer.lr=" in row["overrides"] for row in rows)


def test_a_failed_job_is_a_row_and_the_other_jobs_run_to_their_end(cli):
    result = cli("-m", "optimizer=sgd", "optimizer.lr=0.01,1e6,0.02", "trainer.max_epochs=1",
                 "trainer.log_histograms=false", "logger=none", ok=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    (sweep,) = (cli.root / "outputs" / "mlp_digits" / "multirun").iterdir()
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [row["status"] for row in rows] == ["finished", "failed", "finished"]
    assert "The training loss became" in rows[1]["error"] and float(rows[2]["test/acc"]) > 0.1
