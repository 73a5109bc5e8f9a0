"""Adversarial training: GAN / DCGAN (non-saturating loss) and WGAN-GP.

The task steps two optimizers itself (a ``ManualOptimizationTask``),
named as ``optimizer_groups`` names them: ``discriminator`` (the critic for
WGAN-GP) and ``generator``. Each batch:

* GAN: one discriminator step on
  L_D = -[log D(x) + log(1 - D(G(z)))]  (binary cross-entropy, real = 1, fake = 0),
  then one generator step on the non-saturating L_G = -log D(G(z)).
* WGAN-GP: one critic step on
  L_C = f(G(z)) - f(x) + lambda * (||grad f(x^)|| - 1)^2, and every
  ``n_critic``-th batch one generator step on L_G = -f(G(z)).

The discriminator is frozen (``requires_grad=False``) during the generator's
backward pass, so its gradients hold only its own loss, also when gradients
are accumulated. Both optimizers come from the one optimizer config;
the experiment configs set the papers' Adam betas. With a per-step schedule,
WGAN-GP's generator schedule advances once per ``n_critic`` batches.

Pixels: generators end in tanh, so real images are mapped from the data's
normalisation ((x - mean) / std, whatever the data config says) to [-1, 1]
here; no special data config is needed. ``check_data`` reads mean / std from
the data module and trains the sample-quality classifier on its training split.

Logged: train/d_loss, train/g_loss, train/d_real and train/d_fake (mean D(x),
D(G(z)); critic scores for WGAN-GP, plus train/gradient_penalty); at
validation the FID-style Fréchet distance (``dltrain.metrics.sample_quality``)
between the validation images and as many generated ones, and a grid of
samples from a fixed noise batch, so epochs can be compared.

``mode=predict`` (no input files) writes ``predict.num_samples`` samples, one
PNG each, and their grid, from noise seeded by ``seed``.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.engine.optimization import Optimization
from dltrain.errors import UserError
from dltrain.metrics.sample_quality import SampleQuality
from dltrain.predict.records import Prediction
from dltrain.tasks.base import ManualOptimizationTask, frozen
from dltrain.tasks.images import PixelScale, bind_pixel_scale, image_grid, sample_predictions


class GANTask(ManualOptimizationTask):
    predict_inputs = "unused"  # mode=predict samples from noise

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        name: str = "gan",
        monitor: str = "val/frechet_distance",
        monitor_mode: str = "min",
        num_fixed_samples: int = 64,
        classifier_steps: int = 300,
    ) -> None:
        """``loss`` (the root config's) is ignored: the adversarial losses are this task's own."""
        super().__init__(model, name, monitor, monitor_mode)
        self.pixels = PixelScale()
        self.classifier_steps = classifier_steps
        self.quality: SampleQuality | None = None
        # the same noise every validation: the sample grids show one generator changing over epochs
        self.register_buffer("fixed_noise", torch.randn(num_fixed_samples, model.latent_dim,
                                                        generator=torch.Generator().manual_seed(0)))

    # --- pixels: the data's normalisation <-> the generator's tanh range -----------
    def to_tanh(self, images: torch.Tensor) -> torch.Tensor:
        return self.pixels.to_unit(images) * 2 - 1

    def from_tanh(self, generated: torch.Tensor) -> torch.Tensor:
        return self.pixels.from_unit((generated + 1) / 2)

    # --- training ---------------------------------------------------------------
    def optimizer_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        return {"generator": list(self.model.generator.named_parameters()),
                "discriminator": list(self.model.discriminator.named_parameters())}

    def training_step(self, batch: Any, batch_idx: int, optim: Optimization) -> dict[str, Any]:
        generator, discriminator = self.model.generator, self.model.discriminator
        real = self.to_tanh(batch[0])
        fake = generator(self.model.noise(len(real), real.device))

        # discriminator: maximise log D(x) + log(1 - D(G(z))); G(z) is a constant here
        real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        optim.backward(d_loss, "discriminator")
        optim.step("discriminator")

        # generator: the non-saturating loss -log D(G(z)), through the just-updated discriminator
        with frozen(discriminator):
            logits = discriminator(fake)
            g_loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            optim.backward(g_loss, "generator")
        optim.step("generator")

        log = {"train/d_loss": d_loss.detach(), "train/g_loss": g_loss.detach(),
               "train/d_real": torch.sigmoid(real_logits).mean().detach(),
               "train/d_fake": torch.sigmoid(fake_logits).mean().detach()}
        return {"loss": d_loss.detach(), "log": log}

    # --- validation -------------------------------------------------------------
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.quality is None:
            raise RuntimeError("check_data(data) must run before validation: it trains the sample-quality classifier")
        real = batch[0]
        # seeded by the batch index: every validation scores the same noise, and the
        # training random stream is untouched
        seeded = torch.Generator(real.device).manual_seed(batch_idx)
        fake = self.from_tanh(self.model.generator(self.model.noise(len(real), real.device, seeded)))
        self.quality.update(real=real, fake=fake)

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        distance = self.quality.frechet_distance()
        return {f"{prefix}/frechet_distance": distance}

    def reset_metrics(self) -> None:
        self.quality.reset()

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        samples = self.model.generator(self.fixed_noise)
        logger.log_image(f"{prefix}/samples", image_grid((samples + 1) / 2), step)

    def predict_step(self, batch: None, options: Any) -> list[Prediction]:
        device = self.fixed_noise.device
        noise = self.model.noise(options.num_samples, device, torch.Generator(device).manual_seed(options.seed))
        return sample_predictions((self.model.generator(noise) + 1) / 2)

    # --- before training ----------------------------------------------------------
    def example_forward(self, batch: Any) -> torch.Tensor:
        """The generator on one noise vector, the discriminator on one image; their shapes must agree."""
        image = batch[0][:1]
        generated = self.model.generator(self.model.noise(1, image.device))
        if generated.shape[1:] != image.shape[1:]:
            raise ValueError(f"the generator makes images of shape {tuple(generated.shape[1:])}, "
                             f"the data has {tuple(image.shape[1:])}")
        return self.model.discriminator(image)

    def check_data(self, data: Any) -> None:
        """Bind the data's pixel normalisation and train the sample-quality classifier on its training split."""
        bind_pixel_scale(self.name, self.pixels, data)
        if getattr(data, "num_classes", None) is None or data.train_dataset is None:
            raise UserError(f"The {self.name} task scores samples with a classifier trained on labelled images, and "
                            f"{type(data).__name__} has no num_classes; use data=digits, mnist or cifar10.")
        self.quality = SampleQuality(data.train_dataset, data.num_classes,
                                     steps=self.classifier_steps, seed=data.seed)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[(||grad_x^ f(x^)||_2 - 1)^2] on x^ = e x + (1 - e) G(z), e ~ U[0, 1] per sample.

    ``create_graph`` keeps the gradient differentiable, so the penalty trains the critic."""
    epsilon = torch.rand(len(real), *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    interpolates = (epsilon * real + (1 - epsilon) * fake).requires_grad_(True)
    (gradient,) = torch.autograd.grad(critic(interpolates).sum(), interpolates, create_graph=True)
    return (gradient.flatten(1).norm(2, dim=1) - 1).square().mean()


class WGANGPTask(GANTask):
    def __init__(self, model: nn.Module, loss: nn.Module | None = None, name: str = "wgan_gp",
                 monitor: str = "val/frechet_distance", monitor_mode: str = "min", n_critic: int = 5,
                 gp_weight: float = 10.0, num_fixed_samples: int = 64, classifier_steps: int = 300) -> None:
        super().__init__(model, loss, name, monitor, monitor_mode, num_fixed_samples, classifier_steps)
        if n_critic < 1:
            raise UserError(f"task.n_critic={n_critic} must be at least 1 (the paper uses 5).")
        self.n_critic, self.gp_weight = n_critic, gp_weight
        self.register_buffer("last_g_loss", torch.zeros(()), persistent=False)  # logged between generator steps

    def training_step(self, batch: Any, batch_idx: int, optim: Optimization) -> dict[str, Any]:
        generator, critic = self.model.generator, self.model.discriminator
        real = self.to_tanh(batch[0])
        with torch.no_grad():
            fake = generator(self.model.noise(len(real), real.device))

        # critic: maximise f(x) - f(G(z)) with the gradient norm pulled towards 1
        critic_real, critic_fake = critic(real).mean(), critic(fake).mean()
        penalty = gradient_penalty(critic, real, fake)
        c_loss = critic_fake - critic_real + self.gp_weight * penalty
        optim.backward(c_loss, "discriminator")
        optim.step("discriminator")

        if (batch_idx + 1) % self.n_critic == 0:  # one generator step per n_critic critic steps
            with frozen(critic):
                g_loss = -critic(generator(self.model.noise(len(real), real.device))).mean()
                optim.backward(g_loss, "generator")
            optim.step("generator")
            self.last_g_loss = g_loss.detach()

        log = {"train/d_loss": c_loss.detach(), "train/g_loss": self.last_g_loss,
               "train/d_real": critic_real.detach(), "train/d_fake": critic_fake.detach(),
               "train/wasserstein": (critic_real - critic_fake).detach(), "train/gradient_penalty": penalty.detach()}
        return {"loss": c_loss.detach(), "log": log}
