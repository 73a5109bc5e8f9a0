"""The generative models really learn on the offline digits (slow: ~1-2 minutes each on 2 CPU cores).

GANs: the FID-style Fréchet distance after the first epoch against the end of
training. Autoencoder and VAE: the reconstruction error against the first epoch
and against the mean-image baseline (predicting every pixel's mean: error = pixel variance).
"""
from __future__ import annotations

import csv
import statistics

import pytest
from helpers import run_dirs

from dltrain import api
from dltrain.launch import build


def _per_epoch(cli, task_name: str, metric: str) -> list[float]:
    (run_dir,) = run_dirs(cli.root, task_name)
    rows = csv.DictReader((run_dir / "metrics.csv").open())
    return [float(row[metric]) for row in rows if row.get(metric)]


@pytest.mark.slow
@pytest.mark.parametrize("experiment, task_name, factor", [
    ("dcgan_digits", "dcgan_digits", 0.2),
    ("wgan_gp_digits", "wgan_gp_digits", 0.6),
    ("gan_digits", "gan_digits", 0.75),
])
def test_gan_frechet_distance_falls_clearly_over_training(cli, monkeypatch, experiment, task_name, factor):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli(f"experiment={experiment}", "logger=csv", timeout=300)
    distances = _per_epoch(cli, task_name, "val/frechet_distance")
    first, final = distances[0], statistics.mean(distances[-3:])  # the last epochs, smoothing the game's noise
    assert final < factor * first, distances


@pytest.mark.slow
@pytest.mark.parametrize("recipe, task_name", [
    ("experiment=vae_digits", "vae_digits"),
    ("model=autoencoder", "autoencoder_digits"),  # the root defaults: 20 epochs, ~12 s of CPU
])
def test_autoencoder_reconstruction_error_falls_clearly_and_beats_the_mean_image(cli, monkeypatch, recipe, task_name):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli(recipe, "logger=csv", timeout=300)
    errors = _per_epoch(cli, task_name, "val/reconstruction_error")
    data = build.build_data(api.compose([]))
    pixels = data.val_dataset.images * data.std[0] + data.mean[0]  # the normalisation undone: [0, 1]
    mean_image_error = (pixels - pixels.mean(dim=0)).square().mean().item()
    assert errors[-1] < 0.5 * errors[0], errors
    assert errors[-1] < 0.6 * mean_image_error, (errors[-1], mean_image_error)
