"""Checkpoints: exact resume, ckpt_path=last, longer training on resume, and eval mode."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from helpers import run_dirs, train_here
from tb_reading import hparams_rows

from dltrain import checkpoint
from dltrain.checkpoint import rng

# a short deterministic run with a schedule that depends on the run length (cosine) and dropout
RUN = ["trainer.max_epochs=4", "trainer.deterministic=true", "trainer.log_histograms=false",
       "callbacks.checkpoint.keep_every_n_epochs=1", "scheduler=cosine", "seed=0"]


def test_resume_from_epoch_2_ends_exactly_like_the_uninterrupted_run(cli):
    cli(*RUN)
    (full,) = run_dirs(cli.root, "mlp_digits")
    cli(*RUN, f"ckpt_path={full / 'checkpoints' / 'epoch_0002.ckpt'}")
    resumed = [d for d in run_dirs(cli.root, "mlp_digits") if d != full][0]

    a, b = (checkpoint.load(d / "checkpoints" / "last.ckpt") for d in (full, resumed))
    assert a["epoch"] == b["epoch"] == 4 and a["global_step"] == b["global_step"]
    for name in a["model"]:
        torch.testing.assert_close(a["model"][name], b["model"][name], rtol=0, atol=0)
    assert a["metrics"]["val/acc"] == b["metrics"]["val/acc"]
    assert a["metrics"]["val/loss"] == b["metrics"]["val/loss"]
    assert "resumed from" in (resumed / "train.log").read_text()


def test_ckpt_path_last_resumes_the_newest_run_and_can_train_longer(cli):
    first = train_here(cli.root, "trainer.max_epochs=2", "trainer.log_histograms=false")
    cli("trainer.max_epochs=3", "ckpt_path=last", "trainer.log_histograms=false")
    assert run_dirs(cli.root, "mlp_digits") == [first]  # the run continues in its own directory
    state = checkpoint.load(first / "checkpoints" / "last.ckpt")
    assert state["epoch"] == 3  # continued from epoch 2 of the first run
    assert f"resumed from {first}" in (first / "train.log").read_text()
    # one HPARAMS row, the continuation's: what it was asked (not where it resumed from), the best epoch's metrics
    (row,) = hparams_rows(first / "tb")
    assert row.run_name == "trainer.max_epochs=3,trainer.log_histograms=false"
    results = json.loads((first / "results.json").read_text())
    assert row.metrics["val/acc"][1] == pytest.approx(results["best"], abs=1e-6)


def test_checkpoint_holds_everything_needed_and_loads_weights_only(cli):
    cli("trainer.max_epochs=1", "callbacks=ema")
    (run_dir,) = run_dirs(cli.root, "mlp_digits")
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)  # no arbitrary pickles
    assert {"model", "optim", "epoch", "global_step", "rng", "callbacks", "config"} <= set(state)
    assert {"python", "numpy", "torch"} <= set(state["rng"])
    assert {"optimizers", "schedulers", "scaler"} <= set(state["optim"])
    assert "shadow" in state["callbacks"]["EMA"]  # the EMA weights are saved and resumed
    assert not any(k.startswith(("_orig_mod.", "module.")) for k in state["model"])
    assert "model:" in state["config"]


def test_generator_states_round_trip_and_pythons_is_one_tensor():
    random.seed(3), np.random.seed(4), torch.manual_seed(5)
    state = rng.capture_rng()
    assert isinstance(state["python"][1], torch.Tensor)  # one record of the checkpoint, not 625 numbers
    expected = random.random(), np.random.rand(), torch.rand(1)
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    rng.restore_rng(state)
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected


def test_eval_mode_reports_test_metrics_with_the_stored_config(cli):
    run_dir = train_here(cli.root, "trainer.max_epochs=3", "trainer.log_histograms=false")
    trained = json.loads((run_dir / "results.json").read_text())
    best = run_dir / "checkpoints" / "best.ckpt"
    # the stored config is used: a model override on the command line would not be needed
    result = cli("mode=eval", f"ckpt_path={best}", "data.batch_size=17")
    assert run_dirs(cli.root, "mlp_digits") == [run_dir]  # no folder beside the run: the evaluation is inside it
    (eval_dir,) = run_dir.glob("eval_*")
    assert f"test metrics in: {(eval_dir / 'results.json').resolve()}" in result.stdout + result.stderr
    evaluated = json.loads((eval_dir / "results.json").read_text())
    assert evaluated["test"]["test/acc"] == pytest.approx(trained["test"]["test/acc"])


def test_eval_mode_without_a_checkpoint_says_what_to_add(cli):
    result = cli("mode=eval", ok=False)
    assert result.returncode == 2
    assert "ckpt_path=PATH" in result.stderr
