"""`dltrain experiment=mae_digits` end to end: the masked-patch MSE and the reconstruction grids."""
from __future__ import annotations

import json

from helpers import run_dirs
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def test_mae_debug_run_logs_masked_mse_and_reconstruction_grids(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a tiny Transformer: one thread is faster on a shared CPU
    # trainer=debug wins over the experiment's 60 epochs, which compose after it: one epoch, nothing saved
    cli("experiment=mae_digits", "trainer=debug", "logger=tensorboard")
    (run_dir,) = run_dirs(cli.root, "mae_digits", debug=True)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["best_epoch"] == 1 and not (run_dir / "checkpoints").exists()
    assert results["monitor"] == "val/masked_mse" and results["final"]["val/masked_mse"] > 0
    assert "test/masked_mse" in results["test"]
    assert results["flops_per_sample"] > 0
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0}).Reload()
    assert {"train/loss", "val/masked_mse", "train/lr"} <= set(events.Tags()["scalars"])
    assert {"val/masked_reconstructed_original", "test/masked_reconstructed_original"} <= set(events.Tags()["images"])
