"""Pix2Pix: U-Net and PatchGAN shapes, the Sobel pairs, one training step, a CLI run, and (slow) learning."""
from __future__ import annotations

import csv
import functools
import json

import pytest
import torch
from helpers import run_dirs
from hydra.utils import instantiate

from dltrain import api
from dltrain.data.vision.paired_images import PairedImageFolder, sobel_edges
from dltrain.engine.optimization import Optimization
from dltrain.engine.schedulers import constant
from dltrain.errors import UserError
from dltrain.launch import build
from dltrain.models.generative.pix2pix import unet_depth
from dltrain.tasks.image_translation import Pix2PixTask


def test_sobel_edges_find_the_border_of_a_square_and_nothing_inside():
    image = torch.zeros(1, 1, 8, 8)
    image[..., 2:6, 2:6] = 1
    edges = sobel_edges(image)
    assert edges.max() == 1 and edges[0, 0, 3:5, 3:5].abs().max() == 0 and edges[0, 0, 0, 0] == 0
    assert edges[0, 0, 3, 1] > 0 and edges[0, 0, 1, 3] > 0


def test_unet_depth_halves_to_one_pixel_and_rejects_other_sizes():
    assert unet_depth(16) == 4 and unet_depth(256) == 8
    with pytest.raises(UserError, match="data.image_size"):
        unet_depth(28)


@pytest.mark.parametrize("image_size, layers", [(16, 2), (32, 3)])
def test_pix2pix_forward_backward_and_patch_scores(image_size, layers):
    cfg = api.compose(["experiment=pix2pix_digits", f"data.image_size={image_size}",
                       f"model.discriminator_layers={layers}"])
    model = instantiate(cfg.model)
    x = torch.randn(2, 1, image_size, image_size)
    y = model.generator(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    patches = model.discriminator(torch.cat([x, y], dim=1))
    assert patches.ndim == 4 and patches.shape[:2] == (2, 1) and patches.shape[-1] > 1  # a map of patch scores
    patches.mean().backward()
    assert model.generator.down[0][0].weight.grad.abs().sum() > 0  # through the skip connections too


def test_one_pix2pix_step_and_validation_l1_in_pixel_units():
    data = build.build_data(api.compose(["experiment=pix2pix_digits"]))
    x, y = next(iter(data.val_dataloader()))
    assert x.shape == y.shape == (16, 1, 16, 16) and x.min() >= -1 and y.max() <= 1
    task = Pix2PixTask(instantiate(api.compose(["experiment=pix2pix_digits"]).model))
    task.check_data(data)
    optim = Optimization.build(task.optimizer_groups(), functools.partial(torch.optim.Adam, lr=2e-4), constant,
                               1, 1, device_type="cpu")
    out = task.training_step((x, y), 0, optim)
    assert out["log"]["train/g_loss"] > 100 * out["log"]["train/l1"]  # lambda = 100 on the [-1, 1] L1
    task.eval()
    with torch.no_grad():
        task.validation_step((x, y), 0)
        expected = (task.model.generator(x) - y).abs().mean() / 2
    torch.testing.assert_close(task.compute_metrics("val")["val/l1"], expected.item(), rtol=1e-5, atol=1e-6)


def test_paired_folder_reads_side_by_side_pairs_and_explains_a_missing_layout(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        (tmp_path / split).mkdir()
        pair = Image.new("RGB", (8, 4), (0, 0, 0))
        pair.paste((255, 255, 255), (4, 0, 8, 4))  # B (right half) white
        pair.save(tmp_path / split / "1.png")
    data = PairedImageFolder(str(tmp_path), image_size=4)
    data.setup()
    x, y = data.train_dataset[0]
    assert x.shape == (3, 4, 4) and torch.allclose(x, torch.full_like(x, -1)) and torch.allclose(y, torch.ones_like(y))
    with pytest.raises(UserError, match="data.root"):
        PairedImageFolder(str(tmp_path / "nothing")).setup()


def test_pix2pix_debug_run(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli("model=pix2pix", "data=digits_edges2digits", "trainer=debug")
    (run_dir,) = run_dirs(cli.root, "pix2pix_digits_edges2digits", debug=True)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["monitor"] == "val/l1" and 0 < results["final"]["val/l1"] < 1 and "test/l1" in results["test"]


@pytest.mark.slow
def test_pix2pix_validation_l1_falls_and_beats_the_mean_digit(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli("experiment=pix2pix_digits", "logger=csv", timeout=400)
    (run_dir,) = run_dirs(cli.root, "pix2pix_digits_edges2digits")
    l1 = [float(r["val/l1"]) for r in csv.DictReader((run_dir / "metrics.csv").open()) if r.get("val/l1")]
    data = build.build_data(api.compose(["experiment=pix2pix_digits"]))
    train_targets = data.train_dataset.tensors[1]
    val_targets = data.val_dataset.tensors[1]
    mean_digit_l1 = ((val_targets - train_targets.mean(dim=0)).abs().mean() / 2).item()  # [0, 1] pixels
    assert l1[-1] < 0.5 * l1[0], l1
    assert l1[-1] < 0.5 * mean_digit_l1, (l1, mean_digit_l1)
