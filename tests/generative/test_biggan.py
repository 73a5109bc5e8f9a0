"""The small BigGAN-style conditional GAN: its pieces, one training step, a CLI run, and (slow) learning."""
from __future__ import annotations

import csv
import functools
import json
import statistics

import pytest
import torch
from helpers import run_dirs
from hydra.utils import instantiate
from torch.nn.utils.parametrize import is_parametrized

from dltrain import api
from dltrain.engine.optimization import Optimization
from dltrain.engine.schedulers import constant
from dltrain.errors import UserError
from dltrain.models.generative.biggan import ConditionalBatchNorm2d, truncated_noise
from dltrain.tasks.conditional_gan import ConditionalGANTask


def test_truncated_noise_stays_inside_the_threshold_and_is_normal_without_one():
    z = truncated_noise(2000, 8, 0.5, generator=torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.5 and z.std() > 0.2  # filled, not clamped to the edge
    free = truncated_noise(2000, 8, None, generator=torch.Generator().manual_seed(0))
    assert free.abs().max() > 2


def test_conditional_batch_norm_gives_each_class_its_own_scale_and_shift():
    norm = ConditionalBatchNorm2d(3, num_classes=2)
    with torch.no_grad():
        norm.gamma.weight[1] = 1.0  # class 1: scale 2
        norm.beta.weight[1] = 5.0   # class 1: shift 5
    x = torch.randn(4, 3, 5, 5)
    normalised = torch.nn.functional.batch_norm(x, None, None, training=True)
    out = norm(x, torch.tensor([0, 0, 1, 1]))
    torch.testing.assert_close(out[:2], normalised[:2])
    torch.testing.assert_close(out[2:], 2 * normalised[2:] + 5)


@pytest.mark.parametrize("image_size", [8, 16])
def test_biggan_forward_backward_with_spectral_norm_and_projection(image_size):
    model = instantiate(api.compose(["model=cgan_biggan", f"data.image_size={image_size}"]).model)
    labels = torch.tensor([0, 9])
    fake = model.generator(model.noise(2, truncation=1.0), labels)
    assert fake.shape == (2, 1, image_size, image_size) and fake.abs().max() <= 1
    scores = model.discriminator(fake, labels)
    assert scores.shape == (2, 1)
    scores.sum().backward()
    assert all(p.grad is not None for p in model.generator.parameters() if p.requires_grad)
    assert is_parametrized(model.discriminator.psi) and is_parametrized(model.generator.linear)
    # the projection term: the same image scores differently for different classes
    image = fake[:1].detach().expand(2, -1, -1, -1)
    assert not torch.allclose(*model.discriminator(image, labels))


def test_one_conditional_training_step_moves_both_networks_with_the_hinge_loss():
    cfg = api.compose(["model=cgan_biggan"])
    task = ConditionalGANTask(instantiate(cfg.model), num_fixed_samples=20)
    groups = task.optimizer_groups()
    optim = Optimization.build(groups, functools.partial(torch.optim.Adam, lr=1e-3), constant, 1, 1,
                               device_type="cpu")
    before = {name: [p.detach().clone() for _, p in params] for name, params in groups.items()}
    batch = (torch.randn(6, 1, 8, 8), torch.arange(6))
    out = task.training_step(batch, 0, optim)
    assert out["log"]["train/d_loss"] >= 0  # a sum of hinges
    for name, params in groups.items():
        assert any(not torch.equal(b, p) for b, (_, p) in zip(before[name], params)), name
    assert task.fixed_labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_truncation_must_be_positive():
    with pytest.raises(UserError, match="truncation"):
        ConditionalGANTask(instantiate(api.compose(["model=cgan_biggan"]).model), truncation=0.0)


def test_cgan_biggan_debug_run_reports_sample_accuracy_and_distance(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli("model=cgan_biggan", "trainer=debug", "task.classifier_steps=50")
    (run_dir,) = run_dirs(cli.root, "cgan_biggan_digits", debug=True)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["monitor"] == "val/sample_accuracy"
    assert 0 <= results["final"]["val/sample_accuracy"] <= 1 and results["final"]["val/frechet_distance"] > 0
    assert {"test/sample_accuracy", "test/frechet_distance"} <= set(results["test"])


@pytest.mark.slow
def test_conditional_samples_are_classified_as_their_class_well_above_chance_and_improve(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli("experiment=cgan_biggan_digits", "logger=csv", timeout=400)
    (run_dir,) = run_dirs(cli.root, "cgan_biggan_digits")
    accuracy = [float(r["val/sample_accuracy"]) for r in csv.DictReader((run_dir / "metrics.csv").open())
                if r.get("val/sample_accuracy")]
    final = statistics.mean(accuracy[-3:])  # smoothing the game's noise
    assert final > 0.3, accuracy  # chance: 0.1
    assert final > statistics.mean(accuracy[:3]) + 0.15, accuracy
