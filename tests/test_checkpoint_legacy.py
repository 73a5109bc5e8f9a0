"""A checkpoint written before the package was regrouped (tests/fixtures/) keeps loading: eval, resume, the API."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import torch

from dltrain import api, checkpoint
from dltrain.checkpoint import legacy, rng

FIXTURES = Path(__file__).parent / "fixtures"
OLD = FIXTURES / "softmax_regression_digits_2026-12.ckpt"
WRITTEN = json.loads((FIXTURES / "softmax_regression_digits_2026-12.json").read_text())


def test_old_target_paths_and_layout_are_updated_on_load():
    raw = torch.load(OLD, map_location="cpu", weights_only=True)
    assert "dltrain.trainer.Trainer" in raw["config"] and "best" not in raw  # the old layout, as written
    state = checkpoint.load(OLD)
    for old, new in (("dltrain.trainer.Trainer", "dltrain.engine.trainer.Trainer"),
                     ("dltrain.data.digits.DigitsData", "dltrain.data.vision.digits.DigitsData"),
                     ("dltrain.callbacks.EMA", "dltrain.engine.callbacks.EMA"),
                     ("dltrain.schedulers.cosine", "dltrain.engine.schedulers.cosine")):
        assert f"_target_: {old}\n" not in state["config"] and f"_target_: {new}\n" in state["config"]
    assert state["best"] == {"value": WRITTEN["best"], "epoch": WRITTEN["best_epoch"]}
    shadow = raw["callbacks"]["EMA"]["shadow"]  # the EMA weights its validation scored
    assert all(torch.equal(state["evaluation_model"][k], v) for k, v in shadow.items())
    assert legacy.upgrade(state)["config"] == state["config"]  # today's layout passes through unchanged


def test_eval_of_an_old_checkpoint_reports_the_metrics_it_was_tested_with(cli):
    result = cli("mode=eval", f"ckpt_path={OLD}")
    run_dir = next((cli.root / "outputs").glob("*/*/results.json")).parent
    tested = json.loads((run_dir / "results.json").read_text())["test"]
    assert tested == pytest.approx(WRITTEN["test"], abs=1e-9)
    assert "using the checkpoint's EMA weights" in result.stderr + result.stdout + (run_dir / "train.log").read_text()


def test_the_api_evaluates_and_resumes_an_old_checkpoint(tmp_path):
    assert api.evaluate(OLD, run_dir=tmp_path / "eval") == pytest.approx(WRITTEN["test"], abs=1e-9)
    copy = tmp_path / "old" / "checkpoints" / "last.ckpt"
    copy.parent.mkdir(parents=True)
    shutil.copy(OLD, copy)
    results = api.train(["model=softmax_regression", "callbacks=ema", "callbacks.ema.decay=0.9", "logger=none",
                         "trainer.log_histograms=false", "trainer.max_epochs=3", f"ckpt_path={copy}"],
                        run_dir=tmp_path / "resumed")
    assert results["best_epoch"] in (2, 3)  # the old run's best (epoch 2) is carried on, or beaten at epoch 3
    assert results["best"] >= WRITTEN["best"]


def test_an_old_checkpoints_python_generator_state_a_list_of_numbers_is_restored():
    raw = torch.load(OLD, map_location="cpu", weights_only=True)
    version, keys, gauss = raw["rng"]["python"]
    assert isinstance(keys, list)  # today's checkpoints hold one tensor
    rng.restore_rng(raw["rng"])
    assert random.getstate() == (version, tuple(keys), gauss)
