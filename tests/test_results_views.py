"""What a run shows (issue 18, part A): TensorBoard's SCALARS sections and HPARAMS rows, the labelled figures in
TensorBoard and plots/, per_class.csv. Event files are read back with TensorBoard's own reader, PNG files with
Pillow, per-class scores checked against scikit-learn on the same predictions."""
from __future__ import annotations

import csv
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import train_here
from PIL import Image
from sklearn.metrics import precision_recall_fscore_support
from tb_reading import events, hparams_rows
from torch import nn

from dltrain.engine.loggers import LoggerGroup
from dltrain.launch import figures, hparams
from dltrain.metrics.classification import PR_CURVE_THRESHOLDS, ClassificationMetrics, per_class_scores
from dltrain.tasks.detection import DetectionTask
from dltrain.tasks.segmentation import overlay_grid
from dltrain.visuals.confusion import confusion_figure
from dltrain.visuals.figures import save_figure

OVERRIDES = ("trainer.max_epochs=3", "trainer.log_histograms=false", "optimizer.lr=1e-2",
             "trainer.visuals_every_n_validations=2", "trainer.visuals_time_share=null")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """The default run (MLP on the offline digits), 3 epochs, trained through the Python API."""
    return train_here(tmp_path_factory.mktemp("digits"), *OVERRIDES)


def test_scalars_are_train_val_test_sections_only(digits_run):
    tags = set(events(digits_run / "tb").Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/loss_epoch", "val/acc", "val/acc_top5", "test/acc"} <= tags
    assert {tag.split("/")[0] for tag in tags} == {"train", "val", "test"}  # no epoch, lr, time/ or hparams/ cards
    assert "val/acc_top1" not in tags


def test_hparams_row_holds_the_overrides_and_the_best_epochs_metrics(digits_run):
    (row,) = hparams_rows(digits_run / "tb")
    assert row.run_name == ("trainer.max_epochs=3,trainer.log_histograms=false,optimizer.lr=1e-2,"
                            "trainer.visuals_every_n_validations=2,trainer.visuals_time_share=null")
    assert row.hparams == {"trainer.max_epochs": 3, "trainer.log_histograms": False, "optimizer.lr": 0.01,
                           "trainer.visuals_every_n_validations": 2, "trainer.visuals_time_share": "null"}
    results = json.loads((digits_run / "results.json").read_text())
    step, best = row.metrics["val/acc"]
    assert best == pytest.approx(results["best"], abs=1e-6)  # float32 in the event file
    curves = events(digits_run / "tb")
    assert [e.step for e in curves.Scalars("val/acc")].index(step) + 1 == results["best_epoch"]  # at that step
    assert row.metrics["val/loss"] == (step, curves.Scalars("val/loss")[results["best_epoch"] - 1].value)
    for name, value in results["test"].items():
        assert row.metrics[name][1] == pytest.approx(value, abs=1e-6)
    assert set(row.metric_names) == set(row.metrics) and not any("hparams" in m for m in row.metric_names)


def test_pr_curves_and_a_labelled_confusion_matrix_reach_tensorboard(digits_run):
    found = events(digits_run / "tb")
    assert set(found.PluginTagToContent("pr_curves")) >= {f"val/pr/{digit}" for digit in range(10)}
    assert {f"test/pr/{digit}" for digit in range(10)} <= set(found.Tags()["tensors"])
    # drawn at the 2nd validation (every 2nd) and at the test pass, which draws the last (not the 3rd epoch)
    assert [e.step for e in found.Images("val/confusion_matrix")] == [e.step for e in found.Scalars("val/acc")][1:2]
    image = found.Images("test/confusion_matrix")[-1]
    assert image.width >= 500 and image.height >= 500


def test_plots_hold_labelled_figures_of_the_test_pass(digits_run):
    for name in ("confusion_matrix", "confusion_matrix_normalized", "pr_curves", "predictions"):
        with Image.open(digits_run / "plots" / f"{name}.png") as image:
            minimum = (500, 100) if name == "predictions" else (500, 400)  # predictions: 2 rows of 8 digits
            assert image.width >= minimum[0] and image.height >= minimum[1], (name, image.size)
            low, high = image.convert("L").getextrema()
            assert high - low > 100, name  # a picture, not a blank page


def test_per_class_csv_equals_scikit_learn_on_the_best_checkpoints_test_predictions(digits_run):
    from dltrain import api, checkpoint
    from dltrain.checkpoint.run_state import load_inference_weights
    from dltrain.launch import build

    cfg = api.compose(list(OVERRIDES))
    data, task = build.build_data(cfg), build.build_task(cfg)
    load_inference_weights(task, checkpoint.load(digits_run / "checkpoints" / "best.ckpt"))
    task.eval()
    truth, predicted = [], []
    with torch.no_grad():
        for inputs, target in data.test_dataloader():
            truth.append(target)
            predicted.append(task.model(inputs).argmax(1))
    truth, predicted = torch.cat(truth).numpy(), torch.cat(predicted).numpy()
    expected = precision_recall_fscore_support(truth, predicted, labels=list(range(10)), zero_division=0)
    rows = list(csv.DictReader((digits_run / "per_class.csv").open()))
    assert [row["class"] for row in rows] == [str(digit) for digit in range(10)]
    for column, reference in zip(("precision", "recall", "f1", "support"), expected):
        assert np.allclose([float(row[column]) for row in rows], reference, atol=1e-9), column
    accuracy = json.loads((digits_run / "results.json").read_text())["test"]["test/acc"]
    assert accuracy == pytest.approx((truth == predicted).mean())


def test_the_per_class_table_is_printed(tmp_path, caplog):
    rows = [{"class": "cat", "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 3}]
    task = type("Task", (), {"save_figures": lambda self, d: None, "per_class_metrics": lambda self: rows})()
    with caplog.at_level(logging.INFO, logger="dltrain.launch.figures"):
        figures.write_end_of_run(task, LoggerGroup([]), tmp_path, "test")
    assert "class  precision  recall     f1  support\ncat        0.500   1.000  0.667        3" in caplog.text
    assert (tmp_path / "per_class.csv").read_text().splitlines()[0] == "class,precision,recall,f1,support"


def test_the_last_passs_images_become_plots(tmp_path):
    loggers = LoggerGroup([])
    loggers.log_image("val/samples", torch.zeros(3, 20, 30, dtype=torch.uint8), 1)
    loggers.log_image("test/samples", torch.full((3, 20, 30), 200, dtype=torch.uint8), 2)
    loggers.log_image("test/masks/overlay", torch.zeros(1, 8, 8, dtype=torch.uint8), 2)
    task = type("Task", (), {"save_figures": lambda self, d: None, "per_class_metrics": lambda self: None})()
    figures.write_end_of_run(task, loggers, tmp_path, "test")
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["masks_overlay.png", "samples.png"]
    with Image.open(tmp_path / "plots" / "samples.png") as image:
        assert image.size == (30, 20) and image.getpixel((0, 0)) == (200, 200, 200)  # the test pass's, not val's
    assert not (tmp_path / "per_class.csv").exists()


def test_top_k_accuracy_is_reported_only_where_it_differs_from_accuracy():
    logits, target = torch.randn(40, 6), torch.randint(0, 6, (40,))
    for top_k, name in ((1, None), (3, "acc_top3"), (6, None), (9, None)):
        metrics = ClassificationMetrics(6, top_k=top_k)
        metrics.update(logits, target, torch.tensor(0.0))
        reported = {k for k in metrics.compute() if k.startswith("acc_top")}
        assert reported == ({name} if name else set()), top_k


def test_per_class_scores_equal_scikit_learns():
    generator = torch.Generator().manual_seed(1)
    target = torch.randint(0, 4, (300,), generator=generator)  # class 4 never true, class 3 maybe never predicted
    predicted = torch.where(torch.rand(300, generator=generator) < 0.6, target,
                            torch.randint(0, 5, (300,), generator=generator))
    metrics = ClassificationMetrics(5, top_k=1)
    metrics.update(torch.nn.functional.one_hot(predicted, 5).float(), target, torch.tensor(0.0))
    scores = per_class_scores(metrics.confusion)
    expected = precision_recall_fscore_support(target.numpy(), predicted.numpy(), labels=list(range(5)),
                                               zero_division=0)
    for name, reference in zip(("precision", "recall", "f1", "support"), expected):
        assert np.allclose(scores[name].numpy(), reference, atol=1e-12), name


def test_pr_curve_counts_equal_thresholding_every_score():
    generator = torch.Generator().manual_seed(2)
    logits, target = torch.randn(500, 3, generator=generator) * 2, torch.randint(0, 3, (500,), generator=generator)
    metrics = ClassificationMetrics(3, top_k=1)
    for part in torch.arange(500).split(128):  # over batches, as a validation pass
        metrics.update(logits[part], target[part], torch.tensor(0.0))
    counts = metrics.pr_curves()
    scores = logits.softmax(1)
    thresholds = torch.arange(PR_CURVE_THRESHOLDS, dtype=torch.float64) / (PR_CURVE_THRESHOLDS - 1)
    for c in range(3):
        above = scores[:, c].double()[:, None] >= thresholds[None] - 1e-7
        positive = (target == c)[:, None]
        assert torch.equal(counts["true_positives"][c], (above & positive).sum(0))
        assert torch.equal(counts["false_positives"][c], (above & ~positive).sum(0))
        assert torch.equal(counts["false_negatives"][c], (~above & positive).sum(0))
        assert torch.equal(counts["true_negatives"][c], (~above & ~positive).sum(0))
    assert ClassificationMetrics(11).pr_curves() is None  # over 10 classes: no curves, no per-sample memory


def test_hyperparameters_are_the_overrides_typed_and_the_run_name_is_made_of_them():
    from dltrain import api

    overrides = ["optimizer=adam", "+trainer.num_threads=1", "optimizer.lr=1e-2", "ckpt_path=last",
                 "hydra.run.dir=/somewhere", "hydra/launcher=joblib", "data.root=photos/cats", "seed=3"]
    cfg = api.compose(["optimizer=adam", "optimizer.lr=1e-2", "seed=3"])
    assert hparams.hparams(cfg, overrides) == {"optimizer": "adam", "trainer.num_threads": "1",
                                               "optimizer.lr": 0.01, "data.root": "photos/cats", "seed": 3}
    assert hparams.run_name(overrides) == ("optimizer=adam,trainer.num_threads=1,optimizer.lr=1e-2,"
                                           "data.root=photos|cats,seed=3")
    assert hparams.run_name([]) == hparams.run_name(["ckpt_path=last"]) == "defaults"


def test_a_confusion_matrix_names_its_classes_at_a_readable_size(tmp_path):
    figure = confusion_figure(torch.tensor([[5, 1, 0], [0, 3, 2], [1, 0, 7]]), ["cat", "dog", "bird"])
    texts = {text.get_text() for axes in figure.axes for text in axes.texts}
    labels = {label.get_text() for label in figure.axes[0].get_xticklabels()}
    assert {"5", "3", "7", "1", "2"} <= texts and labels == {"cat", "dog", "bird"}
    assert figure.axes[0].get_xlabel() == "predicted class" and figure.axes[0].get_ylabel() == "true class"
    with Image.open(save_figure(figure, tmp_path / "cm.png")) as image:
        assert min(image.size) >= 500


def test_an_untrained_detectors_picture_still_shows_the_ground_truth():
    task = DetectionTask(nn.Identity(), class_names=["circle", "square"])
    image = torch.full((3, 32, 32), 0.5)
    target = {"boxes": torch.tensor([[4.0, 4.0, 20.0, 20.0]]), "labels": torch.tensor([2])}
    nothing = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long), "scores": torch.zeros(0)}
    pair = task.draw_pair(image, target, nothing)
    height, width = pair.shape[-2:]
    assert height >= 256 and width >= 2 * 256
    truth, predicted = pair[:, 30:, : width // 2], pair[:, 30:, width // 2 + 4:]
    grey = torch.tensor([127, 128])
    assert not torch.isin(truth, grey).all()  # the box and its name are drawn over the grey image
    assert torch.isin(predicted[:, :, :256], grey).all()  # nothing predicted: the image as it is


def test_segmentation_rows_show_each_picture_at_least_256_pixels_wide():
    images = torch.rand(2, 3, 40, 40)
    masks = torch.randint(0, 3, (2, 40, 40))
    grid = overlay_grid(images, masks, masks, ignore_index=255, num_classes=3)
    assert grid.dtype == torch.uint8 and grid.shape[-1] >= 3 * 256 and grid.shape[-2] >= 2 * 256


def test_starting_a_run_does_not_import_matplotlib():
    code = "import sys, dltrain.launch.run, dltrain.cli; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_generative_runs_sample_grid_lands_in_plots(tmp_path):
    run_dir = train_here(tmp_path, "model=dcgan", "data.image_size=16", "trainer.max_epochs=1",
                         "trainer.limit_train_batches=2", "trainer.limit_val_batches=2", "trainer.log_histograms=false")
    with Image.open(run_dir / "plots" / "samples.png") as image:  # the test pass's grid, as TensorBoard shows it
        assert min(image.size) >= 64 and image.convert("L").getextrema()[1] > 0
    assert not (run_dir / "per_class.csv").exists()  # no classes to score


def test_a_binary_classifier_logs_its_pr_curve_for_tensorboards_pr_curves_tab():
    from dltrain.tasks.binary_classification import BinaryClassificationTask

    task = BinaryClassificationTask(nn.Linear(3, 1), class_names=["benign", "malignant"])
    generator = torch.Generator().manual_seed(3)
    features, target = torch.randn(64, 3, generator=generator), torch.randint(0, 2, (64,), generator=generator)
    task.validation_step((features, target), 0)
    task.compute_metrics("val")
    logged = {}
    logger = type("Logger", (), {"log_image": lambda *a: None,
                                 "log_pr_curve": lambda self, tag, counts, step: logged.update({tag: counts})})()
    task.log_visuals(logger, 5, "val")
    counts = logged["val/pr/malignant"]
    assert int(counts["true_positives"][0] + counts["false_negatives"][0]) == int(target.sum())  # threshold 0
    assert int(counts["true_positives"][0] + counts["false_positives"][0]) == 64  # everything predicted positive
