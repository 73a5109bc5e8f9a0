"""Class-conditional adversarial training (BigGAN-style), with the hinge loss.

The generator draws G(z, y) for a class y and the discriminator scores
D(x, y). Each batch, with y' drawn uniformly over the classes for the fakes:

* discriminator: L_D = E[max(0, 1 - D(x, y))] + E[max(0, 1 + D(G(z, y'), y'))]
  (the hinge loss of SAGAN / BigGAN; real images keep their own labels y);
* generator: L_G = -E[D(G(z, y'), y')].

Everything else is ``GANTask``'s: two optimizers stepped by the task, the
pixel mapping to tanh's [-1, 1], the frozen discriminator during the
generator's backward pass. Validation draws one fake per validation image,
for the same label, from truncated noise (``truncation``, the BigGAN trick;
null for none): ``val/sample_accuracy`` is the share of fakes the
sample-quality classifier assigns to the class they were drawn for (chance:
1 / num_classes), ``val/frechet_distance`` the FID-style distance. The sample
grid has one column per class.

``mode=predict`` writes ``predict.num_samples`` samples rounded up to a whole
number per class, from truncated noise; its grid has one row per class.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.engine.optimization import Optimization
from dltrain.errors import UserError
from dltrain.predict.records import Prediction
from dltrain.tasks.base import frozen
from dltrain.tasks.gan import GANTask
from dltrain.tasks.images import image_grid, sample_predictions


class ConditionalGANTask(GANTask):
    def __init__(self, model: nn.Module, loss: nn.Module | None = None, name: str = "conditional_gan",
                 monitor: str = "val/sample_accuracy", monitor_mode: str = "max", truncation: float | None = 1.0,
                 num_fixed_samples: int = 80, classifier_steps: int = 300) -> None:
        super().__init__(model, loss, name, monitor, monitor_mode, num_fixed_samples, classifier_steps)
        if truncation is not None and truncation <= 0:
            raise UserError(f"task.truncation={truncation} must be positive (e.g. 0.5 or 1.0), or null for none.")
        self.truncation = truncation
        fixed = model.noise(num_fixed_samples, generator=torch.Generator().manual_seed(0), truncation=truncation)
        self.fixed_noise = fixed
        # row-major grid with one column per class: label i % num_classes
        self.register_buffer("fixed_labels", torch.arange(num_fixed_samples) % model.num_classes)

    def random_labels(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randint(self.model.num_classes, (n,), device=device)

    def training_step(self, batch: Any, batch_idx: int, optim: Optimization) -> dict[str, Any]:
        generator, discriminator = self.model.generator, self.model.discriminator
        real, labels = self.to_tanh(batch[0]), batch[1]
        fake_labels = self.random_labels(len(real), real.device)
        fake = generator(self.model.noise(len(real), real.device), fake_labels)

        real_scores, fake_scores = discriminator(real, labels), discriminator(fake.detach(), fake_labels)
        d_loss = F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()
        optim.backward(d_loss, "discriminator")
        optim.step("discriminator")

        with frozen(discriminator):
            g_loss = -discriminator(fake, fake_labels).mean()
            optim.backward(g_loss, "generator")
        optim.step("generator")

        log = {"train/d_loss": d_loss.detach(), "train/g_loss": g_loss.detach(),
               "train/d_real": real_scores.mean().detach(), "train/d_fake": fake_scores.mean().detach()}
        return {"loss": d_loss.detach(), "log": log}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.quality is None:
            raise RuntimeError("check_data(data) must run before validation: it trains the sample-quality classifier")
        real, labels = batch[0], batch[1]
        seeded = torch.Generator(real.device).manual_seed(batch_idx)  # the same noise every validation
        z = self.model.noise(len(real), real.device, seeded, truncation=self.truncation)
        fake = self.from_tanh(self.model.generator(z, labels))
        self.quality.update(real=real, fake=fake, fake_labels=labels)

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        metrics = {f"{prefix}/frechet_distance": self.quality.frechet_distance(),
                   f"{prefix}/sample_accuracy": self.quality.sample_accuracy()}
        return metrics

    def reset_metrics(self) -> None:
        self.quality.reset()

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        samples = self.model.generator(self.fixed_noise, self.fixed_labels)
        logger.log_image(f"{prefix}/samples", image_grid((samples + 1) / 2, nrow=self.model.num_classes), step)

    def predict_step(self, batch: None, options: Any) -> list[Prediction]:
        per_class = -(-options.num_samples // self.model.num_classes)
        device = self.fixed_labels.device
        labels = torch.arange(self.model.num_classes, device=device).repeat_interleave(per_class)
        seeded = torch.Generator(device).manual_seed(options.seed)
        z = self.model.noise(len(labels), device, seeded, truncation=self.truncation)
        return sample_predictions((self.model.generator(z, labels) + 1) / 2, nrow=per_class, labels=labels)

    def example_forward(self, batch: Any) -> torch.Tensor:
        image, label = batch[0][:1], batch[1][:1]
        generated = self.model.generator(self.model.noise(1, image.device), label)
        if generated.shape[1:] != image.shape[1:]:
            raise ValueError(f"the generator makes images of shape {tuple(generated.shape[1:])}, "
                             f"the data has {tuple(image.shape[1:])}")
        return self.model.discriminator(image, label)

    def check_data(self, data: Any) -> None:
        if getattr(data, "num_classes", None) != self.model.num_classes:
            raise UserError(f"The conditional GAN draws {self.model.num_classes} classes but the data has "
                            f"{getattr(data, 'num_classes', None)}; set model.num_classes=${{data.num_classes}}.")
        super().check_data(data)
