"""Each source of your own data trains from the command line, as a user types it, to a stated accuracy; the
stored checkpoint then gives the same test metrics in ``mode=eval`` and predicts new files in ``mode=predict``.

Slow (learning runs). The data are real: scikit-learn's digits and breast-cancer table, written by the test
as the files a user has; the text lines are generated story sentences.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_dirs

from .files import breast_cancer_csv, digits_image_folder, digits_npz, digits_x, digits_y, labelled_lines

pytestmark = pytest.mark.slow
QUIET = ["logger=csv", "trainer.log_histograms=false", "trainer.enable_progress_bar=false"]


def train_eval_predict(cli, task_name: str, train: list[str], inputs: Path, minimum: float) -> list[dict]:
    """Train, check the test accuracy, evaluate the stored best.ckpt, predict ``inputs``; the predictions."""
    cli(*train, *QUIET)
    (run,) = run_dirs(cli.root, task_name)
    test = json.loads((run / "results.json").read_text())["test"]
    print(f"{task_name}: test acc {test['test/acc']:.3f}")
    assert test["test/acc"] >= minimum, test
    best = run / "checkpoints" / "best.ckpt"
    cli("mode=eval", f"ckpt_path={best}", "logger=csv")
    evaluated = [d for d in (cli.root / "outputs").rglob("results.json") if d.parent != run]
    assert json.loads(evaluated[0].read_text())["test"]["test/acc"] == pytest.approx(test["test/acc"])
    out = cli.root / "predicted"
    cli("mode=predict", f"ckpt_path={best}", f"predict.inputs={inputs}", f"predict.output_dir={out}")
    return json.loads((out / "predictions.json").read_text())["predictions"]


@pytest.mark.parametrize("shape, model, minimum", [("features", "mlp", 0.95), ("signals", "cnn1d", 0.95),
                                                   ("images", "mlp", 0.95)])
def test_digits_arrays_in_each_shape(cli, tmp_path, shape, model, minimum):
    path = digits_npz(tmp_path, shape)
    np.save(tmp_path / "new.npy", digits_x(shape)[:20])
    records = train_eval_predict(cli, f"{model}_arrays", ["data=arrays", f"data.path={path}", f"model={model}",
                                                          "trainer.max_epochs=15"], tmp_path / "new.npy", minimum)
    right = sum(r["top_k"][0]["name"] == str(label) for r, label in zip(records, digits_y()[:20]))
    assert len(records) == 20 and right >= 17


def test_a_folder_of_x_npy_and_y_npy(cli, tmp_path):
    folder = tmp_path / "digits"
    folder.mkdir()
    np.save(folder / "x.npy", digits_x("features"))
    np.save(folder / "y.npy", digits_y())
    records = train_eval_predict(cli, "mlp_arrays", ["data=arrays", f"data.path={folder}", "trainer.max_epochs=15"],
                                 folder / "x.npy", 0.95)
    assert len(records) == 1797


def test_breast_cancer_csv(cli, tmp_path):
    table = breast_cancer_csv(tmp_path / "tumours.csv")
    records = train_eval_predict(cli, "mlp_csv", ["data=csv", f"data.path={table}", "data.target=diagnosis",
                                                  "trainer.max_epochs=15"], table, 0.93)
    truth = [row.rpartition(",")[2] for row in table.read_text().splitlines()[1:]]
    right = sum(r["top_k"][0]["name"] == label for r, label in zip(records, truth))
    assert len(records) == 569 and right / 569 > 0.93


def test_labelled_text_lines(cli, tmp_path):
    lines = labelled_lines(tmp_path / "reviews.tsv")
    new = tmp_path / "new.txt"
    new.write_text("the cake was lovely .\nanna found a horrible book in the park .\n")
    records = train_eval_predict(cli, "lstm_classifier_text_lines", ["data=text_lines", f"data.path={lines}",
                                 "model=lstm_classifier", "trainer.max_epochs=10", "optimizer.lr=0.003"], new, 0.95)
    assert [r["top_k"][0]["name"] for r in records] == ["positive", "negative"]


def test_digits_as_an_image_folder_without_num_classes(cli, tmp_path):
    root = digits_image_folder(tmp_path / "digits")
    records = train_eval_predict(cli, "mlp_imagefolder", ["data=imagefolder", f"data.root={root}",
                                 "data.augment.horizontal_flip=false", "data.num_workers=0", "trainer.max_epochs=15"],
                                 root / "7", 0.93)
    assert sum(r["top_k"][0]["name"] == "7" for r in records) / len(records) > 0.9
