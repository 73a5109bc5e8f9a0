"""`dltrain model=dcgan` end to end: two optimizers, the Fréchet distance, sample grids."""
from __future__ import annotations

import json

from helpers import run_dirs
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def test_dcgan_debug_run_logs_losses_distance_and_samples(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny convolutions: one thread is faster on a shared CPU
    cli("model=dcgan", "data.image_size=16", "trainer=debug")
    (run_dir,) = run_dirs(cli.root, "dcgan_digits", debug=True)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["monitor"] == "val/frechet_distance" and results["final"]["val/frechet_distance"] > 0
    assert "test/frechet_distance" in results["test"]
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake", "train/lr/generator",
            "train/lr/discriminator", "val/frechet_distance"} <= scalars
    assert {"val/samples", "test/samples"} <= set(events.Tags()["images"])
