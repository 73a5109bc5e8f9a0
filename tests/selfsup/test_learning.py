"""MAE really learns on the offline digits (slow: ~1-2 minutes each on 2 CPU cores).

Pre-training (experiment=mae_digits, run once for the module): the masked-patch
MSE against the first epoch and against the best constant prediction (zero, in
per-patch normalised units: the patch's own mean). Linear probing: the
pre-trained encoder's features against a randomly initialised encoder's, same
head, epochs and seed.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import run_dirs, run_dltrain
from hydra.utils import instantiate

from dltrain import api
from dltrain.launch import build

PROBE = ["model=mae_vit_probe", "optimizer.lr=0.01", "trainer.max_epochs=20", "logger=csv"]


@pytest.fixture(scope="module")
def one_thread():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # a tiny Transformer: one thread is faster on a shared CPU
        yield patch


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, one_thread) -> Path:
    root = tmp_path_factory.mktemp("mae")
    result = run_dltrain("experiment=mae_digits", "logger=csv", cwd=root, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(root, "mae_digits")
    return run_dir


@pytest.mark.slow
def test_mae_pretraining_lowers_the_masked_patch_mse_clearly(pretrained):
    rows = csv.DictReader((pretrained / "metrics.csv").open())
    errors = [float(row["val/masked_mse"]) for row in rows if row.get("val/masked_mse")]
    cfg = api.compose(["experiment=mae_digits"])
    data = build.build_data(cfg)
    constant_error = instantiate(cfg.model).targets(data.val_dataset.images).square().mean().item()
    assert errors[-1] < 0.8 * errors[0], errors
    assert errors[-1] < 0.65 * constant_error, (errors[-1], constant_error)


@pytest.mark.slow
def test_linear_probe_on_the_pretrained_encoder_beats_one_on_a_random_encoder(pretrained, tmp_path):
    accuracy = {}
    for name, init_from in (("pretrained", pretrained / "checkpoints" / "best.ckpt"), ("random", "null")):
        root = tmp_path / name
        root.mkdir()
        result = run_dltrain(*PROBE, f"model.init_from={init_from}", cwd=root, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        (run_dir,) = run_dirs(root, "mae_vit_probe_digits")
        results = json.loads((run_dir / "results.json").read_text())
        embed_dim = api.compose(["model=mae_vit_probe"]).model.embed_dim
        assert results["trainable_params"] == embed_dim * 10 + 10  # the linear head only
        accuracy[name] = results["test"]["test/acc"]
    assert accuracy["pretrained"] > accuracy["random"] + 0.2, accuracy
