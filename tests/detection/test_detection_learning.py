"""Every detector really learns to find the generated shapes (slow: ~1-2 CPU minutes each).

The baseline is the same model untrained (its initial weights, same seed): its
mAP@.5 on the validation images is near zero. Training must lift it far above;
Mask R-CNN's masks too (mask mAP@.5).
"""
from __future__ import annotations

import csv
import itertools
import json

import pytest
import torch
from helpers import run_dirs

from dltrain import api
from dltrain.launch import build

# An untrained detector keeps its full 100 low-score boxes per image: on all 200 validation images Mask R-CNN
# pastes 20,000 masks (1.5 CPU minutes, a third of its test). The first 64 images say the same: mAP@.5 0.000
# for every model (SSD 0.002 on all 200), masks too.
UNTRAINED_VAL_BATCHES = 4


def _untrained_metrics(overrides: list[str]) -> dict[str, float]:
    cfg = api.compose(overrides)
    torch.manual_seed(cfg.seed)
    data, task = build.build_data(cfg), build.build_task(cfg)
    task.eval()
    with torch.no_grad():
        for batch_idx, batch in enumerate(itertools.islice(data.val_dataloader(), UNTRAINED_VAL_BATCHES)):
            task.validation_step(batch, batch_idx)
    return task.compute_metrics("val")


@pytest.mark.slow
@pytest.mark.parametrize("experiment, overrides, margins", [
    # test mAP@.5 on seeds 42 / 1 (docs/detection.md): YOLO 0.85 / 0.89 after 3 epochs, Faster R-CNN 0.50 / 0.54
    # and SSD 0.56 / 0.58 after 4
    ("yolo_shapes", ["trainer.max_epochs=3", "data.num_train=600"], {"map_50": 0.6}),
    ("faster_rcnn_shapes", ["trainer.max_epochs=4", "data.num_train=500"], {"map_50": 0.4}),
    # the slowest learner: 0.36 test mAP@.5 after these 6 epochs and still rising (docs/detection.md)
    ("retinanet_shapes", ["trainer.max_epochs=6", "data.num_train=500"], {"map_50": 0.25}),
    ("ssd_shapes", ["trainer.max_epochs=4", "data.num_train=500"], {"map_50": 0.4}),
    ("mask_rcnn_shapes", ["trainer.max_epochs=4", "data.num_train=500"], {"map_50": 0.4, "mask_map_50": 0.4}),
])
def test_detector_learns_shapes_far_above_its_untrained_self(cli, monkeypatch, experiment, overrides, margins):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # the assertions read the test pass: validations before the last epoch (mAP over 200 images, about a quarter
    # of an epoch's time) would only choose which epoch's weights it scores; with one, the last epoch's
    (epochs,) = (o.split("=")[1] for o in overrides if o.startswith("trainer.max_epochs="))
    cli(f"experiment={experiment}", *overrides, f"trainer.val_every_n_epochs={epochs}", "logger=csv", timeout=900)
    (run_dir,) = run_dirs(cli.root, f"{experiment.rsplit('_', 1)[0]}_shapes_det")
    trained = json.loads((run_dir / "results.json").read_text())["test"]
    untrained = _untrained_metrics([f"experiment={experiment}", *overrides])
    for metric, margin in margins.items():
        assert trained[f"test/{metric}"] > untrained[f"val/{metric}"] + margin, (metric, trained, untrained)
    per_class = list(csv.DictReader((run_dir / "per_class.csv").open()))  # AP of each shape, averaging to the mAP
    assert [row["class"] for row in per_class] == ["circle", "square", "triangle"]
    assert sum(float(row["ap"]) for row in per_class) / 3 == pytest.approx(trained["test/map"], abs=1e-5)
