"""`dltrain mode=predict` on image files: classification, segmentation, detection, and its errors.

Each family's checkpoint is trained once per module (two batches, with the Python API: no second process
start-up), where ``ckpt_path=last`` finds it; predict itself runs through the CLI as a user types it. The
predictions of such a model are poor, so the tests check what predict writes, not what it predicts.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_dirs, run_dltrain
from PIL import Image
from sklearn.datasets import load_digits

from dltrain import api
from dltrain.data.vision.shapes import generate_shapes

TINY = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "test=false",
        "logger=none", "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    """A folder to run dltrain in, with image files of other sizes than the models were trained at."""
    root = tmp_path_factory.mktemp("predict")
    digits = load_digits()
    (root / "digits").mkdir()
    for index, size in enumerate([(24, 24), (30, 20), (8, 8)]):
        pixels = (digits.images[index] * 255 / 16).astype("uint8")
        Image.fromarray(pixels).resize(size).save(root / "digits" / f"digit_{index}.png")
    (root / "digits" / "README.txt").write_text("not an image: a folder's other files are left alone")
    (root / "shapes").mkdir()
    for index, sample in enumerate(generate_shapes(3, 64, seed=5, max_objects=3)):
        image = Image.fromarray(sample["image"].permute(1, 2, 0).numpy())
        image.resize((96 + 8 * index, 72)).save(root / "shapes" / f"scene_{index}.jpg")
    return root


def dltrain(root: Path, *args: str, ok: bool = True):
    result = run_dltrain(*args, cwd=root)
    if ok and result.returncode != 0:
        raise AssertionError(f"dltrain {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def checkpoint_of(root: Path, task_name: str, *train_args: str) -> Path:
    """A checkpoint trained on two batches, in the run directory the CLI would use (outputs/<task_name>/...)."""
    run_dir = root / "outputs" / task_name / "trained"
    api.train([*train_args, *TINY], run_dir=run_dir)
    return run_dir / "checkpoints" / "last.ckpt"


def predictions(folder: Path) -> list[dict]:
    return json.loads((folder / "predictions.json").read_text())["predictions"]


@pytest.fixture(scope="module")
def digits_checkpoint(workspace: Path) -> Path:
    return checkpoint_of(workspace, "mlp_digits", "callbacks=ema")


def test_classification_lists_top_k_classes_per_file_with_ckpt_path_last(workspace, digits_checkpoint):
    result = dltrain(workspace, "mode=predict", "ckpt_path=last", "predict.inputs=digits", "predict.top_k=3")
    trained = digits_checkpoint.parent.parent
    (out,) = [d for d in trained.glob("predict_*") if (d / "predictions.json").exists()]  # in the trained run,
    assert out.resolve() in [d.resolve() for d in run_dirs(workspace, "mlp_digits")[0].iterdir()]
    assert f"predictions in: {out.resolve()}" in result.stdout + result.stderr  # ... printed
    records = predictions(out)
    assert [Path(r["file"]).name for r in records] == ["digit_0.png", "digit_1.png", "digit_2.png"]
    assert [(r["width"], r["height"]) for r in records] == [(24, 24), (30, 20), (8, 8)]
    for record in records:
        probabilities = [entry["probability"] for entry in record["top_k"]]
        assert len(record["top_k"]) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1 + 1e-5
        assert all(0 <= entry["class"] < 10 for entry in record["top_k"])
    log = (out / "train.log").read_text()
    assert "using the checkpoint's EMA weights" in log  # the run kept an EMA: predictions use it, as validation did


@pytest.fixture(scope="module")
def unet_checkpoint(workspace: Path) -> Path:
    return checkpoint_of(workspace, "unet_shapes_seg", "model=unet", "data=shapes_seg", "model.base_channels=8",
                         "data.num_train=64", "data.num_val=16")


def test_segmentation_writes_overlays_and_masks_at_the_input_size(workspace, unet_checkpoint):
    out = workspace / "segmentation_out"
    # the model keeps base_channels=8 from its checkpoint: no model override is needed
    dltrain(workspace, "mode=predict", f"ckpt_path={unet_checkpoint}", "predict.inputs=shapes/*.jpg",
            f"predict.output_dir={out}")
    records = predictions(out)
    assert len(records) == 3
    for record in records:
        overlay, mask = (Image.open(out / record["outputs"][kind]) for kind in ("overlay", "mask"))
        original = Image.open(workspace / record["file"])  # the path as given, relative to where dltrain ran
        assert overlay.size == mask.size == original.size == (record["width"], record["height"])
        assert overlay.mode == "RGB" and mask.mode == "L"
        classes = torch.from_numpy(np.array(mask))
        assert int(classes.max()) < 4  # raw class indices: background, circle, square, triangle
        fractions = record["class_fractions"]
        assert list(fractions) == ["background", "circle", "square", "triangle"]
        assert sum(fractions.values()) == pytest.approx(1.0, abs=1e-4)
        assert fractions["circle"] == pytest.approx(float((classes == 1).float().mean()), abs=1e-5)


@pytest.fixture(scope="module")
def yolo_checkpoint(workspace: Path) -> Path:
    # score_thresh 0: the untrained detector keeps its low-scoring boxes, so there are boxes to check
    return checkpoint_of(workspace, "yolo_shapes_det", "model=yolo", "data=shapes_det", "model.score_thresh=0.0",
                         "data.num_train=32", "data.num_val=8")


def test_detection_boxes_are_in_the_files_pixels_with_names_and_scores(workspace, yolo_checkpoint):
    out = workspace / "detection_out"
    dltrain(workspace, "mode=predict", f"ckpt_path={yolo_checkpoint}", "predict.inputs=shapes",
            "predict.score_threshold=0.0", f"predict.output_dir={out}")
    records = predictions(out)
    assert len(records) == 3
    assert any(record["detections"] for record in records)
    for record in records:
        width, height = record["width"], record["height"]
        assert Image.open(out / record["outputs"]["boxes"]).size == (width, height)
        for detection in record["detections"]:
            x1, y1, x2, y2 = detection["box"]
            assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
            assert detection["name"] in ("circle", "square", "triangle") and 0 <= detection["score"] <= 1
    # a threshold leaves the weaker boxes out
    strict = workspace / "detection_strict"
    dltrain(workspace, "mode=predict", f"ckpt_path={yolo_checkpoint}", "predict.inputs=shapes",
            "predict.score_threshold=0.9", f"predict.output_dir={strict}")
    assert all(d["score"] >= 0.9 for r in predictions(strict) for d in r["detections"])


# --- errors: one sentence, exit status 2, nothing written over ------------------------------------------


def assert_user_error(result, *phrases: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in result.stderr


def test_predict_without_a_checkpoint_says_what_to_add(workspace):
    assert_user_error(dltrain(workspace, "mode=predict", "predict.inputs=digits", ok=False),
                      "mode=predict needs a checkpoint", "ckpt_path=PATH")


def test_inputs_that_match_no_image_file(workspace, digits_checkpoint):
    result = dltrain(workspace, "mode=predict", f"ckpt_path={digits_checkpoint}", "predict.inputs=photos/*.png",
                     ok=False)
    assert_user_error(result, "predict.inputs=photos/*.png matches no image files")
    result = dltrain(workspace, "mode=predict", f"ckpt_path={digits_checkpoint}", ok=False)  # no inputs at all
    assert_user_error(result, "add predict.inputs=PATH")


def test_an_unreadable_image_stops_before_anything_is_written(workspace, digits_checkpoint):
    broken = workspace / "broken"
    broken.mkdir()
    (broken / "a_good.png").write_bytes((workspace / "digits" / "digit_0.png").read_bytes())
    (broken / "b_truncated.png").write_bytes((workspace / "digits" / "digit_1.png").read_bytes()[:40])
    out = workspace / "broken_out"
    result = dltrain(workspace, "mode=predict", f"ckpt_path={digits_checkpoint}", "predict.inputs=broken",
                     f"predict.output_dir={out}", ok=False)
    assert_user_error(result, "b_truncated.png cannot be read as an image")
    assert not out.exists()  # checked before the first output: no half-written folder
    assert digits_checkpoint.is_file()


def test_earlier_predictions_are_never_overwritten(workspace, digits_checkpoint):
    out = workspace / "kept"
    out.mkdir()
    (out / "predictions.json").write_text('{"earlier": true}')
    result = dltrain(workspace, "mode=predict", f"ckpt_path={digits_checkpoint}", "predict.inputs=digits",
                     f"predict.output_dir={out}", ok=False)
    assert_user_error(result, "already holds a predictions.json")
    assert json.loads((out / "predictions.json").read_text()) == {"earlier": True}


def test_a_task_without_predict_names_the_families_that_have_it(workspace):
    checkpoint = checkpoint_of(workspace, "ar_mlp_sine", "model=ar_mlp", "data=sine", "loss=mse")
    result = dltrain(workspace, "mode=predict", f"ckpt_path={checkpoint}", "predict.inputs=digits", ok=False)
    assert_user_error(result, "has no mode=predict", "segmentation", "detection")
