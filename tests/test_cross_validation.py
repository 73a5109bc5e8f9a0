"""K-fold cross-validation: every sample is validated exactly once; `dltrain cv.folds=3` writes a summary."""
from __future__ import annotations

import csv
import json

import pytest
from helpers import run_dirs

from dltrain.errors import UserError
from dltrain.launch.cross_validation import fold_indices


@pytest.mark.parametrize("labels", [None, [0, 1, 2] * 10])
def test_folds_validate_every_sample_exactly_once(labels):
    folds = fold_indices(30, 5, seed=0, labels=labels)
    validated = sorted(i for _, val in folds for i in val)
    assert validated == list(range(30))
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == 30
    if labels:  # stratified: each fold holds every class in the same share
        for _, val in folds:
            assert sorted(labels[i] for i in val) == [0, 0, 1, 1, 2, 2]


def test_too_many_folds_is_a_user_error():
    with pytest.raises(UserError, match="cv.folds=50"):
        fold_indices(10, 50, seed=0, labels=None)


def test_cli_cross_validation_writes_mean_and_std(cli):
    cli("cv.folds=3", "trainer.max_epochs=2", "trainer.log_histograms=false")
    (run_dir,) = run_dirs(cli.root, "mlp_digits")
    summary = json.loads((run_dir / "cv_summary.json").read_text())
    assert len(summary["folds"]) == 3 and 0.3 < summary["best/mean"] <= 1.0 and summary["best/std"] >= 0
    assert sorted(p.name for p in run_dir.glob("fold_*")) == ["fold_0", "fold_1", "fold_2"]
    rows = list(csv.DictReader((run_dir / "cv_summary.csv").open()))
    assert [row["fold"] for row in rows] == ["0", "1", "2", "mean", "std"]
