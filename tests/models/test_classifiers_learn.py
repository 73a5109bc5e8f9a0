"""Every classifier of the zoo learns on real offline data (slow: a few epochs each on the digits)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "classifier_table.py"
spec = importlib.util.spec_from_file_location("classifier_table", SCRIPT)
classifier_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(classifier_table)


@pytest.mark.slow
@pytest.mark.parametrize("name", classifier_table.classifier_names())
def test_classifier_learns_the_digits_well_above_chance(name, tmp_path):
    row = classifier_table.train_one(name, epochs=4, image_size=8, run_dir=tmp_path)
    assert row["val_acc"] > 0.5, row  # chance is 0.1 (ten balanced classes)
