"""`dltrain model=yolo data=shapes_det` end to end: mAP metrics, loss parts and drawn predictions."""
from __future__ import annotations

import json

from helpers import run_dirs
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def test_yolo_debug_run_logs_map_loss_parts_and_predictions(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # small convolutions: one thread is faster on a shared CPU
    cli("model=yolo", "data=shapes_det", "trainer=debug")
    (run_dir,) = run_dirs(cli.root, "yolo_shapes_det", debug=True)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["monitor"] == "val/map" and 0.0 <= results["final"]["val/map"] <= 1.0
    assert {"test/map", "test/map_50", "test/map_75", "test/mar_100"} <= set(results["test"])
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/loss_objectness", "train/loss_classifier", "train/loss_box",
            "val/map", "val/map_50"} <= scalars
    assert {"val/predictions", "test/predictions"} <= set(events.Tags()["images"])
