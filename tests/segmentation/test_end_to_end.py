"""`dltrain model=unet data=shapes_seg` as a user types it, and the offline failure of downloaded data."""
from __future__ import annotations

import csv
import json

import pytest
from helpers import run_dirs
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def test_unet_on_shapes_runs_end_to_end(cli):
    cli("model=unet", "data=shapes_seg", "trainer=debug", "model.base_channels=8", "data.num_val=32",
        "data.num_test=32")
    (run_dir,) = run_dirs(cli.root, "unet_shapes_seg", debug=True)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["monitor"] == "val/miou" and 0 <= results["best"] <= 1
    assert {"test/miou", "test/pixel_acc", "test/mean_acc", "test/fwiou", "test/iou_circle"} <= set(results["test"])
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0}).Reload()
    assert "val/segmentation" in events.Tags()["images"]


def test_a_segmentation_run_writes_per_class_iou_of_its_test_pass(cli):
    cli("model=unet", "data=shapes_seg", "trainer.max_epochs=1", "model.base_channels=8", "data.num_train=16",
        "data.num_val=8", "data.num_test=8")
    (run_dir,) = run_dirs(cli.root, "unet_shapes_seg")
    rows = list(csv.DictReader((run_dir / "per_class.csv").open()))
    test = json.loads((run_dir / "results.json").read_text())["test"]
    assert [row["class"] for row in rows][0] == "background" and len(rows) == 4
    for row in rows:
        assert float(row["iou"]) == pytest.approx(test[f"test/iou_{row['class']}"], abs=1e-6)
    assert sum(int(row["pixels"]) for row in rows) == 8 * 32 * 32  # every pixel of the 8 test images (none ignored)


def test_voc_offline_fails_in_one_sentence(cli):
    result = cli("model=unet", "data=voc_seg", "data.download=false", "trainer=debug", ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "PASCAL VOC 2012 is not in" in result.stderr
