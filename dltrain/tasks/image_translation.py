"""Image-to-image translation: Pix2Pix (paired) and CycleGAN (unpaired).

Both tasks step their optimizers themselves (``ManualOptimizationTask``), named ``generator`` and ``discriminator``, discriminator first.
Batches are (x, y) (Pix2Pix: input and target) or (a, b) (CycleGAN: one
image of each domain); images arrive in the data's normalisation and are
mapped to tanh's [-1, 1] as in ``dltrain.tasks.gan`` (``dltrain.tasks.images.PixelScale``).

**Pix2Pix** (Isola et al., 2017), with D conditioned on the input x:

    L_D = BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)        (halved, as the paper: D learns slower)
    L_G = BCE(D(x, G(x)), 1) + lambda_L1 * |y - G(x)|_1,  lambda_L1 = 100.

Validation: ``val/l1`` (the monitor), the mean absolute error between G(x)
and y in [0, 1] pixels, exact over the pass; the image shows input | output
| target columns.

**CycleGAN** (Zhu et al., 2017), with G: A -> B, F: B -> A and the
least-squares adversarial loss (LSGAN: real -> 1, fake -> 0, squared error):

    L_G = (D_B(G(a)) - 1)^2 + (D_A(F(b)) - 1)^2
          + lambda_cyc * (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)
          + lambda_id * (|G(b) - b|_1 + |F(a) - a|_1),   lambda_cyc = 10, lambda_id = 5
    L_D = 1/2 [(D_B(b) - 1)^2 + D_B(b~)^2] + 1/2 [(D_A(a) - 1)^2 + D_A(a~)^2],

where b~ and a~ come from an **image history** (``ImageHistory``, 50
images): the discriminators see a mix of the newest fakes and older ones, so
they do not chase the generators' latest mode (Shrivastava et al., 2017).
The history is not saved in checkpoints (it refills within 50 images).
Validation: ``val/cycle_l1`` (the monitor), the mean of the two cycle errors
in [0, 1] pixels; when the data's validation pairs are aligned
(``aligned_validation``, the offline digit strokes), also
``val/translation_l1`` = |G(a) - b| and |F(b) - a|. The image shows
a | G(a) | F(G(a)) | b | F(b) | G(F(b)).

``mode=predict`` translates image files (resized to data.image_size, written
at that size as ``<name>_translated.png``): Pix2Pix with G, CycleGAN with G
(A -> B) or, with ``predict.direction=b2a``, with F.
"""
from __future__ import annotations

import random
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.engine.optimization import Optimization
from dltrain.errors import UserError
from dltrain.predict.records import ImageBatch, Prediction
from dltrain.tasks.base import ManualOptimizationTask, frozen
from dltrain.tasks.images import PixelScale, bind_pixel_scale, image_grid
from dltrain.visuals.grids import to_uint8


class ImageTranslationTask(ManualOptimizationTask):
    """What both translation tasks share: the pixel mapping, the visual grid, exact error sums."""

    predict_inputs = "required"  # mode=predict translates image files

    def __init__(self, model: nn.Module, name: str, monitor: str, monitor_mode: str, num_images_shown: int) -> None:
        super().__init__(model, name, monitor, monitor_mode)
        self.pixels = PixelScale()
        self.num_images_shown = num_images_shown
        self.errors: dict[str, torch.Tensor] = {}
        self.pixel_count = 0
        self.shown: list[torch.Tensor] | None = None

    def to_tanh(self, images: torch.Tensor) -> torch.Tensor:
        return self.pixels.to_unit(images) * 2 - 1

    def add_error(self, name: str, output: torch.Tensor, target: torch.Tensor) -> None:
        """Sum of |output - target| in [0, 1] pixels (half the difference in tanh range)."""
        error = (output - target).abs().sum() / 2
        self.errors[name] = self.errors.get(name, torch.zeros((), device=error.device)) + error

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}/{name}": float(total) / max(self.pixel_count, 1) for name, total in self.errors.items()}

    def reset_metrics(self) -> None:
        self.errors, self.pixel_count = {}, 0

    def keep_for_visuals(self, batch_idx: int, *columns: torch.Tensor) -> None:
        if batch_idx == 0:
            self.shown = [c[: self.num_images_shown].detach() for c in columns]

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        if self.shown is None:
            return
        rows = torch.stack(self.shown, dim=1).flatten(0, 1)  # one row per example, one column per kind
        logger.log_image(f"{prefix}/translations", image_grid((rows + 1) / 2, nrow=len(self.shown)), step)
        self.shown = None

    def check_data(self, data: Any) -> None:
        bind_pixel_scale(self.name, self.pixels, data)

    def translator(self, options: Any) -> nn.Module:
        """The generator ``mode=predict`` runs on input files."""
        return self.model.generator

    def predict_step(self, batch: ImageBatch, options: Any) -> list[Prediction]:
        translated = (self.translator(options)(batch.pixels * 2 - 1) + 1) / 2  # tanh's [-1, 1] both ways
        return [Prediction(name, batch.describe(index), {"translated": to_uint8(translated[index])})
                for index, name in enumerate(batch.names)]


class Pix2PixTask(ImageTranslationTask):
    def __init__(self, model: nn.Module, loss: nn.Module | None = None, name: str = "pix2pix",
                 monitor: str = "val/l1", monitor_mode: str = "min", l1_weight: float = 100.0,
                 num_images_shown: int = 16) -> None:
        """``loss`` (the root config's) is ignored: the losses are the paper's."""
        super().__init__(model, name, monitor, monitor_mode, num_images_shown)
        self.l1_weight = l1_weight

    def optimizer_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        return {"generator": list(self.model.generator.named_parameters()),
                "discriminator": list(self.model.discriminator.named_parameters())}

    def training_step(self, batch: Any, batch_idx: int, optim: Optimization) -> dict[str, Any]:
        generator, discriminator = self.model.generator, self.model.discriminator
        x, y = self.to_tanh(batch[0]), self.to_tanh(batch[1])
        fake = generator(x)

        real_logits = discriminator(torch.cat([x, y], dim=1))
        fake_logits = discriminator(torch.cat([x, fake.detach()], dim=1))
        d_loss = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                        + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        optim.backward(d_loss, "discriminator")
        optim.step("discriminator")

        with frozen(discriminator):
            logits = discriminator(torch.cat([x, fake], dim=1))
            adversarial = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            l1 = F.l1_loss(fake, y)
            g_loss = adversarial + self.l1_weight * l1
            optim.backward(g_loss, "generator")
        optim.step("generator")

        log = {"train/d_loss": d_loss.detach(), "train/g_loss": g_loss.detach(),
               "train/g_adversarial": adversarial.detach(), "train/l1": l1.detach() / 2}  # l1 in [0, 1] pixels
        return {"loss": g_loss.detach(), "log": log}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = self.to_tanh(batch[0]), self.to_tanh(batch[1])
        fake = self.model.generator(x)
        self.add_error("l1", fake, y)
        self.pixel_count += y.numel()
        self.keep_for_visuals(batch_idx, x, fake, y)

    def example_forward(self, batch: Any) -> torch.Tensor:
        x, y = batch[0][:1], batch[1][:1]
        fake = self.model.generator(x)
        if fake.shape != y.shape:
            raise ValueError(f"the generator makes images of shape {tuple(fake.shape[1:])}, "
                             f"the targets have {tuple(y.shape[1:])}")
        return self.model.discriminator(torch.cat([x, fake], dim=1))


class ImageHistory:
    """A pool of up to ``size`` generated images (Shrivastava et al., 2017).

    ``query(images)`` returns as many images: while the pool is filling, the
    new ones (and stores them); then, per image, with probability 1/2 a random
    older image (replaced in the pool by the new one), otherwise the new one."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.random() < 0.5:
                index = random.randrange(self.size)
                out.append(self.images[index])
                self.images[index] = image
            else:
                out.append(image)
        return torch.stack(out)


def lsgan_loss(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean (D - 1)^2 for real targets, mean D^2 for fake ones."""
    return (scores - 1).square().mean() if real else scores.square().mean()


class CycleGANTask(ImageTranslationTask):
    def __init__(self, model: nn.Module, loss: nn.Module | None = None, name: str = "cyclegan",
                 monitor: str = "val/cycle_l1", monitor_mode: str = "min", cycle_weight: float = 10.0,
                 identity_weight: float = 5.0, history_size: int = 50, num_images_shown: int = 8) -> None:
        """``loss`` (the root config's) is ignored: the losses are the paper's."""
        super().__init__(model, name, monitor, monitor_mode, num_images_shown)
        self.cycle_weight, self.identity_weight = cycle_weight, identity_weight
        self.history_a, self.history_b = ImageHistory(history_size), ImageHistory(history_size)
        self.aligned_validation = False

    def optimizer_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        m = self.model
        return {"generator": [*m.generator_ab.named_parameters("generator_ab"),
                              *m.generator_ba.named_parameters("generator_ba")],
                "discriminator": [*m.discriminator_a.named_parameters("discriminator_a"),
                                  *m.discriminator_b.named_parameters("discriminator_b")]}

    def training_step(self, batch: Any, batch_idx: int, optim: Optimization) -> dict[str, Any]:
        m = self.model
        a, b = self.to_tanh(batch[0]), self.to_tanh(batch[1])

        # generators first (the paper's order), through frozen discriminators
        with frozen(m.discriminator_a), frozen(m.discriminator_b):
            fake_b, fake_a = m.generator_ab(a), m.generator_ba(b)
            adversarial = lsgan_loss(m.discriminator_b(fake_b), True) + lsgan_loss(m.discriminator_a(fake_a), True)
            cycle = F.l1_loss(m.generator_ba(fake_b), a) + F.l1_loss(m.generator_ab(fake_a), b)
            identity = (F.l1_loss(m.generator_ab(b), b) + F.l1_loss(m.generator_ba(a), a)
                        if self.identity_weight else torch.zeros((), device=a.device))
            g_loss = adversarial + self.cycle_weight * cycle + self.identity_weight * identity
            optim.backward(g_loss, "generator")
        optim.step("generator")

        # discriminators on real images and on fakes from the history
        pooled_b, pooled_a = self.history_b.query(fake_b), self.history_a.query(fake_a)
        d_b = 0.5 * (lsgan_loss(m.discriminator_b(b), True) + lsgan_loss(m.discriminator_b(pooled_b), False))
        d_a = 0.5 * (lsgan_loss(m.discriminator_a(a), True) + lsgan_loss(m.discriminator_a(pooled_a), False))
        d_loss = d_a + d_b
        optim.backward(d_loss, "discriminator")
        optim.step("discriminator")

        log = {"train/d_loss": d_loss.detach(), "train/g_loss": g_loss.detach(),
               "train/g_adversarial": adversarial.detach(), "train/cycle_l1": cycle.detach() / 4,  # per direction,
               "train/identity_l1": identity.detach() / 4}                                         # [0, 1] pixels
        return {"loss": g_loss.detach(), "log": log}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        m = self.model
        a, b = self.to_tanh(batch[0]), self.to_tanh(batch[1])
        fake_b, fake_a = m.generator_ab(a), m.generator_ba(b)
        back_a, back_b = m.generator_ba(fake_b), m.generator_ab(fake_a)
        self.add_error("cycle_l1", back_a, a)
        self.add_error("cycle_l1", back_b, b)
        if self.aligned_validation:
            self.add_error("translation_l1", fake_b, b)
            self.add_error("translation_l1", fake_a, a)
        self.pixel_count += a.numel() + b.numel()
        self.keep_for_visuals(batch_idx, a, fake_b, back_a, b, fake_a, back_b)

    def example_forward(self, batch: Any) -> torch.Tensor:
        a, b = batch[0][:1], batch[1][:1]
        fake_b = self.model.generator_ab(a)
        if fake_b.shape != b.shape:
            raise ValueError(f"the generator makes images of shape {tuple(fake_b.shape[1:])}, "
                             f"domain B has {tuple(b.shape[1:])}")
        return self.model.discriminator_b(fake_b)

    def translator(self, options: Any) -> nn.Module:
        if options.direction not in ("a2b", "b2a"):
            raise UserError(f"predict.direction={options.direction} is not one of a2b (generator_ab, the default) "
                            "or b2a (generator_ba).")
        return self.model.generator_ab if options.direction == "a2b" else self.model.generator_ba

    def check_data(self, data: Any) -> None:
        if not hasattr(data, "aligned_validation"):  # what the unpaired data modules state
            raise UserError(f"CycleGAN trains on two unpaired image domains and {type(data).__name__} is not one; "
                            "use data=digits_thin2thick or data=unpaired_folder data.root=PATH.")
        super().check_data(data)
        self.aligned_validation = data.aligned_validation
