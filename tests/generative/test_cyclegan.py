"""CycleGAN: the history buffer, the unpaired digit domains, one training step, a CLI run, and (slow) learning."""
from __future__ import annotations

import csv
import functools
import json
import random

import pytest
import torch
from helpers import run_dirs
from hydra.utils import instantiate

from dltrain import api
from dltrain.data.vision.unpaired_images import UnpairedImageFolder, dilate
from dltrain.engine.optimization import Optimization
from dltrain.engine.schedulers import constant
from dltrain.errors import UserError
from dltrain.launch import build
from dltrain.tasks.image_translation import CycleGANTask, ImageHistory, lsgan_loss


def test_history_returns_new_images_while_filling_then_mixes_old_and_new():
    random.seed(0)
    history = ImageHistory(size=4)
    first = torch.arange(4.0).view(4, 1)
    assert torch.equal(history.query(first), first)  # filling: the new images, now stored
    new = torch.arange(100.0, 164.0).view(64, 1)
    out = history.query(new)
    assert out.shape == new.shape and len(history.images) == 4
    returned_old = [v for v in out.flatten().tolist() if v < 100]
    assert 0 < len(returned_old) <= 4 + 32  # about half of the answers come from the pool
    stored = torch.stack(history.images).flatten().tolist()
    assert any(v >= 100 for v in stored)  # the pool was refreshed with new images
    assert torch.equal(ImageHistory(size=0).query(new), new)


def test_lsgan_loss_is_the_squared_distance_to_the_target_label():
    scores = torch.tensor([0.0, 1.0, 3.0])
    assert lsgan_loss(scores, True).item() == pytest.approx((1 + 0 + 4) / 3)
    assert lsgan_loss(scores, False).item() == pytest.approx((0 + 1 + 9) / 3)


def test_dilation_thickens_strokes_and_validation_pairs_are_aligned():
    dot = torch.zeros(1, 1, 5, 5)
    dot[..., 2, 2] = 1
    assert dilate(dot).sum() == 9
    data = build.build_data(api.compose(["experiment=cyclegan_digits"]))
    a, b = data.val_dataset.tensors
    torch.testing.assert_close(dilate((a + 1) / 2) * 2 - 1, b)
    assert data.aligned_validation
    train_a, train_b = data.train_dataset.tensors
    assert not torch.equal(dilate((train_a[:1] + 1) / 2) * 2 - 1, train_b[:1])  # training pairs are unpaired


def test_cyclegan_forward_backward_and_one_step_moves_all_four_networks():
    cfg = api.compose(["experiment=cyclegan_digits"])
    task = CycleGANTask(instantiate(cfg.model), history_size=4)
    groups = task.optimizer_groups()
    assert len(groups["generator"]) == len(list(task.model.generator_ab.parameters())) * 2
    optim = Optimization.build(groups, functools.partial(torch.optim.Adam, lr=1e-3), constant, 1, 1,
                               device_type="cpu")
    before = {n: p.detach().clone() for n, p in task.model.named_parameters()}
    batch = (torch.rand(4, 1, 16, 16) * 2 - 1, torch.rand(4, 1, 16, 16) * 2 - 1)
    out = task.training_step(batch, 0, optim)
    assert torch.isfinite(out["loss"]) and out["log"]["train/cycle_l1"] > 0
    for network in ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b"):
        assert any(not torch.equal(before[n], p) for n, p in task.model.named_parameters()
                   if n.startswith(network)), network
    assert len(task.history_a.images) == 4


def test_unpaired_folder_explains_a_missing_layout(tmp_path):
    with pytest.raises(UserError, match="trainA"):
        UnpairedImageFolder(str(tmp_path)).setup()


def test_cyclegan_debug_run(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli("model=cyclegan", "data=digits_thin2thick", "trainer=debug")
    (run_dir,) = run_dirs(cli.root, "cyclegan_digits_thin2thick", debug=True)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["monitor"] == "val/cycle_l1" and 0 < results["final"]["val/cycle_l1"] < 1
    assert "test/translation_l1" in results["test"]


@pytest.mark.slow
def test_cyclegan_cycle_error_falls_and_translation_beats_doing_nothing(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli("experiment=cyclegan_digits", "logger=csv", timeout=400)
    (run_dir,) = run_dirs(cli.root, "cyclegan_digits_thin2thick")
    rows = [r for r in csv.DictReader((run_dir / "metrics.csv").open()) if r.get("val/cycle_l1")]
    cycle = [float(r["val/cycle_l1"]) for r in rows]
    translation = float(rows[-1]["val/translation_l1"])
    a, b = build.build_data(api.compose(["experiment=cyclegan_digits"])).val_dataset.tensors
    identity_l1 = ((a - b).abs().mean() / 2).item()  # the error of G(a) = a, F(b) = b
    assert cycle[-1] < 0.6 * cycle[0], cycle
    assert translation < 0.8 * identity_l1, (translation, identity_l1)
