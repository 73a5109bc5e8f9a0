"""The GAN, WGAN-GP and autoencoder tasks: losses by hand, who steps when, metrics and visuals."""
from __future__ import annotations

import functools

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from dltrain import api
from dltrain.engine.optimization import Optimization
from dltrain.engine.schedulers import constant
from dltrain.errors import UserError
from dltrain.launch import build
from dltrain.tasks.autoencoder import AutoencoderTask, kl_to_standard_normal
from dltrain.tasks.gan import GANTask, PixelScale, WGANGPTask, frozen, gradient_penalty


class RecordingLogger:
    def __init__(self) -> None:
        self.images: dict[str, torch.Tensor] = {}

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self.images[tag] = image


@pytest.fixture(scope="module")
def digits():
    return build.build_data(api.compose(["data.image_size=16", "data.batch_size=16"]))


def _optimization(task) -> Optimization:
    return Optimization.build(task.optimizer_groups(), functools.partial(torch.optim.Adam, lr=1e-3), constant,
                              total_steps=10, steps_per_epoch=10, device_type="cpu")


def _task(model: str, digits, **options):
    cfg = api.compose([f"model={model}", "data.image_size=16"])
    task = build.build_task(cfg)
    for key, value in options.items():
        setattr(task, key, value)
    task.classifier_steps = 20
    task.check_data(digits)
    return task


def _copy(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_pixel_scale_maps_the_data_normalisation_to_unit_pixels_and_back():
    scale = PixelScale()
    scale.set([0.3], [0.37])
    pixels = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(scale.to_unit(scale.from_unit(pixels)), pixels)
    torch.testing.assert_close(scale.from_unit(torch.full((1, 1, 1, 1), 0.3)), torch.zeros(1, 1, 1, 1))


def test_gan_step_updates_both_networks_and_keeps_generator_loss_out_of_discriminator(digits):
    task = _task("dcgan", digits)
    optim = _optimization(task)
    generator, discriminator = _copy(task.model.generator), _copy(task.model.discriminator)
    stepped, snapshots = [], {}
    step = optim.step

    def recording_step(name: str = "model") -> bool:  # the discriminator's gradients when it steps
        stepped.append(name)
        snapshots[name] = [p.grad.clone() for p in task.model.discriminator.parameters()]
        return step(name)

    optim.step = recording_step
    batch = next(iter(digits.train_dataloader()))
    out = task.training_step(batch, 0, optim)
    assert stepped == ["discriminator", "generator"]
    assert _changed(generator, task.model.generator) and _changed(discriminator, task.model.discriminator)
    # the generator's backward went through the frozen discriminator without touching its gradients
    for before, parameter in zip(snapshots["discriminator"], task.model.discriminator.parameters()):
        assert torch.equal(before, parameter.grad)
    assert all(p.requires_grad for p in task.model.discriminator.parameters())
    assert set(out["log"]) == {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake"}
    assert 0 < out["log"]["train/d_real"] < 1 and torch.isfinite(out["loss"])


def test_frozen_blocks_parameter_gradients_but_not_the_flow_through():
    layer, inner = nn.Linear(2, 1), nn.Linear(2, 2)
    with frozen(layer):
        layer(inner(torch.ones(1, 2))).sum().backward()
    assert layer.weight.grad is None and inner.weight.grad is not None
    assert layer.weight.requires_grad


def test_gradient_penalty_of_a_linear_critic_is_squared_norm_minus_one():
    critic = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 0.0, 4.0, 0.0]]))  # gradient w everywhere, ||w|| = 5
    penalty = gradient_penalty(critic, torch.randn(8, 4), torch.randn(8, 4))
    assert penalty.item() == pytest.approx(16.0)  # (5 - 1)^2
    penalty.backward()
    assert critic.weight.grad is not None  # the penalty trains the critic


def test_wgan_gp_steps_the_generator_once_per_n_critic_batches(digits):
    task = _task("wgan_gp", digits)
    optim = _optimization(task)
    batch = next(iter(digits.train_dataloader()))
    for batch_idx in range(task.n_critic - 1):
        generator, critic = _copy(task.model.generator), _copy(task.model.discriminator)
        out = task.training_step(batch, batch_idx, optim)
        assert not _changed(generator, task.model.generator) and _changed(critic, task.model.discriminator)
    generator = _copy(task.model.generator)
    out = task.training_step(batch, task.n_critic - 1, optim)
    assert _changed(generator, task.model.generator)
    assert out["log"]["train/gradient_penalty"] >= 0 and out["log"]["train/g_loss"] != 0


def test_gan_validation_gives_the_frechet_distance_and_a_uint8_sample_grid(digits):
    task = _task("gan", digits).eval()
    with torch.no_grad():
        for batch_idx, batch in enumerate(digits.val_dataloader()):
            task.validation_step(batch, batch_idx)
        metrics = task.compute_metrics("val")
        logger = RecordingLogger()
        task.log_visuals(logger, 0, "val")
    assert set(metrics) == {"val/frechet_distance"} and metrics["val/frechet_distance"] > 0
    grid = logger.images["val/samples"]
    assert grid.dtype == torch.uint8 and grid.shape[0] == 3


def test_gan_example_forward_names_a_shape_mismatch(digits):
    task = _task("dcgan", digits)
    batch = next(iter(digits.val_dataloader()))
    assert task.example_forward(batch).shape == (1, 1)
    with pytest.raises(ValueError, match="generator makes images"):
        task.example_forward((batch[0][:, :, :8, :8], batch[1]))


def test_gan_task_asks_for_image_data_with_a_normalisation():
    task = GANTask(instantiate(api.compose(["model=gan"]).model))
    with pytest.raises(UserError, match="mean and std"):
        task.check_data(object())


def test_kl_to_standard_normal_by_hand():
    assert kl_to_standard_normal(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0
    # mu = 1, sigma^2 = e: -1/2 (1 + 1 - 1 - e) = (e - 1) / 2 per dimension
    value = kl_to_standard_normal(torch.ones(1, 2), torch.ones(1, 2)).item()
    assert value == pytest.approx(2 * (torch.e - 1) / 2)


@pytest.mark.parametrize("model", ["autoencoder", "vae"])
def test_autoencoder_task_trains_validates_and_shows_reconstructions(model, digits):
    task = _task(model, digits)
    batch = next(iter(digits.train_dataloader()))
    out = task.training_step(batch, 0)
    out["loss"].backward()
    assert out["log"]["train/kl"] > 0 if model == "vae" else out["log"]["train/kl"] == 0
    task.eval()
    with torch.no_grad():
        for batch_idx, batch in enumerate(digits.val_dataloader()):
            task.validation_step(batch, batch_idx)
        metrics = task.compute_metrics("val")
        logger = RecordingLogger()
        task.log_visuals(logger, 0, "val")
    assert set(metrics) == {"val/reconstruction_error", "val/loss", "val/kl"}
    assert 0 < metrics["val/reconstruction_error"] < 1
    assert logger.images["val/reconstructions"].dtype == torch.uint8
    assert ("val/samples" in logger.images) == (model == "vae")


def test_autoencoder_task_rejects_an_unknown_likelihood():
    with pytest.raises(UserError, match="reconstruction"):
        AutoencoderTask(instantiate(api.compose(["model=vae"]).model), reconstruction="poisson")


def test_wgan_gp_task_rejects_zero_critic_steps():
    with pytest.raises(UserError, match="n_critic"):
        WGANGPTask(instantiate(api.compose(["model=wgan_gp", "data.image_size=16"]).model), n_critic=0)
