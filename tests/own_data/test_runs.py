"""A run on your own data stores what it found in the checkpoint's config, and eval / predict reuse it.

In-process and short (one epoch, a few batches): these tests check the plumbing, not the learning
(tests/own_data/test_sources_learn.py trains each source from the command line to a stated accuracy).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from dltrain import api, checkpoint
from dltrain.predict.run import predict

from .files import breast_cancer_csv, digits_image_folder, digits_npz, digits_x, labelled_lines

SHORT = ["trainer.max_epochs=1", "trainer.limit_train_batches=3", "logger=none", "trainer.log_histograms=false",
         "trainer.enable_progress_bar=false"]


def train(run_dir: Path, *overrides: str) -> tuple[dict[str, Any], Path]:
    results = api.train([*overrides, *SHORT], run_dir=run_dir)
    return results, run_dir / "checkpoints" / "best.ckpt"


def stored_config(path: Path) -> dict[str, Any]:
    return yaml.safe_load(checkpoint.load(path)["config"])


def predict_files(path: Path, inputs: Path, out_dir: Path, top_k: int = 3) -> list[dict[str, Any]]:
    """What ``dltrain mode=predict ckpt_path=PATH predict.inputs=INPUTS`` writes, in this process."""
    state = checkpoint.load(path)
    cfg = OmegaConf.create(state["config"])
    cfg.ckpt_path = str(path)
    options = OmegaConf.create({"inputs": str(inputs), "output_dir": str(out_dir), "batch_size": 16, "top_k": top_k})
    predict(cfg, options, out_dir, state)
    return json.loads((out_dir / "predictions.json").read_text())["predictions"]


def test_arrays_run_stores_its_facts_and_eval_and_predict_reuse_them(tmp_path):
    results, best = train(tmp_path / "run", "data=arrays", f"data.path={digits_npz(tmp_path, 'images')}")
    data = stored_config(best)["data"]
    assert data["num_classes"] == 10 and data["in_channels"] == 1 and data["image_size"] == 8
    assert data["input_kind"] == "images" and len(data["feature_mean"]) == 1
    assert stored_config(best)["model"]["image_size"] == 8  # the model config read the fact
    assert api.evaluate(best, run_dir=tmp_path / "eval") == pytest.approx(results["test"])

    np.save(tmp_path / "new.npy", digits_x("images")[:5])
    records = predict_files(best, tmp_path / "new.npy", tmp_path / "predicted")
    assert [r["row"] for r in records] == [0, 1, 2, 3, 4]
    assert all(len(r["top_k"]) == 3 and r["top_k"][0]["name"] in data["class_names"] for r in records)


def test_regression_predictions_are_in_the_targets_units(tmp_path):
    x = digits_x("features")
    np.savez(tmp_path / "reg.npz", x=x, y=x.mean(axis=1) * 100 + 1000)
    _, best = train(tmp_path / "run", "data=arrays", f"data.path={tmp_path / 'reg.npz'}", "model=linear_regression")
    assert stored_config(best)["data"]["task"] == "regression"
    np.savez(tmp_path / "new.npz", x=x[:4])
    records = predict_files(best, tmp_path / "new.npz", tmp_path / "predicted")
    assert len(records) == 4 and all(500 < r["prediction"] < 1500 for r in records)  # near the targets' mean


def test_csv_run_names_the_classes_and_predicts_rows_of_a_new_table(tmp_path):
    table = breast_cancer_csv(tmp_path / "tumours.csv")
    results, best = train(tmp_path / "run", "data=csv", f"data.path={table}", "data.target=diagnosis",
                          "model=logistic_regression")
    data = stored_config(best)["data"]
    assert data["class_names"] == ["benign", "malignant"] and data["num_features"] == 30
    assert len(data["features"]) == 30 and data["categories"] == {}
    assert api.evaluate(best, run_dir=tmp_path / "eval") == pytest.approx(results["test"])
    rows = table.read_text().splitlines()
    new = tmp_path / "new.csv"
    new.write_text("\n".join([rows[0].rpartition(",")[0]] + [row.rpartition(",")[0] for row in rows[1:4]]))
    records = predict_files(best, new, tmp_path / "predicted")  # the target column is not needed to predict
    assert [r["row"] for r in records] == [0, 1, 2]
    assert all(r["name"] in ("benign", "malignant") and 0 <= r["probability"] <= 1 for r in records)


def test_text_lines_run_stores_the_vocabulary_and_predict_reads_lines(tmp_path):
    lines = labelled_lines(tmp_path / "reviews.tsv", count=200)
    results, best = train(tmp_path / "run", "data=text_lines", f"data.path={lines}", "model=lstm_classifier")
    data = stored_config(best)["data"]
    assert data["class_names"] == ["negative", "positive"]
    assert data["vocab_size"] == len(data["vocabulary"]) and data["vocabulary"][:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert api.evaluate(best, run_dir=tmp_path / "eval") == pytest.approx(results["test"])
    new = tmp_path / "new.txt"
    new.write_text("the cake was lovely .\n\nanna found a horrible book in the park .\n")
    records = predict_files(best, new, tmp_path / "predicted", top_k=2)
    assert [(r["line"], r["text"]) for r in records] == [(1, "the cake was lovely ."),
                                                         (3, "anna found a horrible book in the park .")]


def test_image_folder_run_finds_the_classes_channels_and_size(tmp_path):
    root = digits_image_folder(tmp_path / "digits", per_class=30)
    results, best = train(tmp_path / "run", "data=imagefolder", f"data.root={root}", "data.num_workers=0")
    data = stored_config(best)["data"]
    assert data["num_classes"] == 10 and data["class_names"] == [str(d) for d in range(10)]
    assert data["in_channels"] == 1 and data["image_size"] == 8 and len(data["mean"]) == 1
    assert api.evaluate(best, run_dir=tmp_path / "eval") == pytest.approx(results["test"])
    records = predict_files(best, root / "7", tmp_path / "predicted", top_k=1)
    assert len(records) == 30 and {r["top_k"][0]["name"] for r in records} <= set(data["class_names"])
