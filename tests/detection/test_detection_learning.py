"""YOLO and Faster R-CNN really learn to find the generated shapes (slow: ~1-2 CPU minutes each).

The baseline is the same model untrained (its initial weights, same seed): its
mAP@.5 on the validation images is near zero. Training must lift it far above.
"""
from __future__ import annotations

import json

import pytest
import torch

from conftest import run_dirs
from dltrain import api, run


def _untrained_map_50(overrides: list[str]) -> float:
    cfg = api.compose(overrides)
    torch.manual_seed(cfg.seed)
    data, task = run.build_data(cfg), run.build_task(cfg)
    task.eval()
    with torch.no_grad():
        for batch_idx, batch in enumerate(data.val_dataloader()):
            task.validation_step(batch, batch_idx)
    return task.compute_metrics("val")["val/map_50"]


@pytest.mark.slow
@pytest.mark.parametrize("experiment, overrides, margin", [
    ("yolo_shapes", ["trainer.max_epochs=6", "data.num_train=600"], 0.6),
    ("faster_rcnn_shapes", ["trainer.max_epochs=6", "data.num_train=500"], 0.4),
])
def test_detector_learns_shapes_far_above_its_untrained_self(cli, monkeypatch, experiment, overrides, margin):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli(f"experiment={experiment}", *overrides, "logger=csv", timeout=600)
    (run_dir,) = run_dirs(cli.root, f"{experiment.rsplit('_', 1)[0]}_shapes_det")
    trained = json.loads((run_dir / "results.json").read_text())["test"]["test/map_50"]
    untrained = _untrained_map_50([f"experiment={experiment}", *overrides])
    assert trained > untrained + margin, (trained, untrained)
