"""Autoencoders and VAEs: reconstruct the input, and (VAE) keep the code close to N(0, I).

The model sees pixels in [0, 1] (mapped from the data's normalisation, read in
``check_data``) and returns decoder logits, plus ``mu`` / ``logvar`` for a VAE.
The loss per image is

    reconstruction + beta * KL,   KL = -1/2 * sum(1 + logvar - mu^2 - exp(logvar))

where the reconstruction term is the negative log-likelihood summed over
pixels: ``bce`` (Bernoulli, as Kingma & Welling) or ``mse`` (a Gaussian up to
constants). Without ``mu`` (a plain autoencoder) the KL term is absent.

Validation: val/reconstruction_error (mean squared error per pixel in [0, 1],
the monitor, comparable between AE and VAE and between losses), val/loss and
val/kl, exact over the pass. Visuals: inputs next to their reconstructions,
and for a VAE images decoded from a fixed batch of prior samples.

``mode=predict``: with input files, each file's reconstruction (at the
model's resolution); without, a VAE writes ``predict.num_samples`` images
decoded from prior samples (a plain autoencoder has no prior to sample).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.errors import UserError
from dltrain.predict.records import ImageBatch, Prediction
from dltrain.tasks.base import Task
from dltrain.tasks.images import PixelScale, bind_pixel_scale, image_grid, sample_predictions
from dltrain.visuals.grids import to_uint8

RECONSTRUCTION_LOSSES = ("bce", "mse")


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per sample, summed over latent dimensions."""
    return -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(dim=1)


class AutoencoderTask(Task):
    predict_inputs = "optional"  # files: reconstructions; none: samples from the prior (VAE)

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        name: str = "autoencoder",
        monitor: str = "val/reconstruction_error",
        monitor_mode: str = "min",
        beta: float = 1.0,
        reconstruction: str = "bce",
        num_images_shown: int = 16,
    ) -> None:
        """``loss`` (the root config's) is ignored: ``reconstruction`` picks the likelihood."""
        super().__init__(model, name, monitor, monitor_mode)
        if reconstruction not in RECONSTRUCTION_LOSSES:
            raise UserError(f"task.reconstruction={reconstruction} is not one of {', '.join(RECONSTRUCTION_LOSSES)}.")
        self.beta, self.reconstruction, self.num_images_shown = beta, reconstruction, num_images_shown
        self.pixels = PixelScale()
        self.register_buffer("fixed_noise", torch.randn(64, model.latent_dim, generator=torch.Generator().manual_seed(0)))
        self._shown: tuple[torch.Tensor, torch.Tensor] | None = None
        self.reset_metrics()

    def losses(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image reconstruction NLL, KL and total, and the reconstructed pixels."""
        target = self.pixels.to_unit(images).clamp(0, 1)
        output = self.model(target)
        logits = output["logits"].float()
        if self.reconstruction == "bce":
            nll = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        else:
            nll = F.mse_loss(torch.sigmoid(logits), target, reduction="none")
        nll = nll.flatten(1).sum(dim=1)
        kl = kl_to_standard_normal(output["mu"].float(), output["logvar"].float()) if "mu" in output \
            else torch.zeros_like(nll)
        return {"nll": nll, "kl": kl, "loss": nll + self.beta * kl, "target": target,
                "reconstruction": torch.sigmoid(logits)}

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        parts = self.losses(batch[0])
        return {"loss": parts["loss"].mean(),
                "log": {"train/reconstruction": parts["nll"].mean().detach(), "train/kl": parts["kl"].mean().detach()}}

    def reset_metrics(self) -> None:
        self._sums = torch.zeros(3, dtype=torch.float64)  # squared error, loss, KL
        self._images = 0
        self._pixels = 0

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        parts = self.losses(batch[0])
        if self._sums.device != parts["loss"].device:
            self._sums = self._sums.to(parts["loss"].device)
        squared_error = (parts["reconstruction"] - parts["target"]).square().sum()
        self._sums += torch.stack([squared_error, parts["loss"].sum(), parts["kl"].sum()]).double()
        self._images += len(parts["target"])
        self._pixels += parts["target"].numel()
        if batch_idx == 0:
            n = self.num_images_shown
            self._shown = (parts["target"][:n].detach(), parts["reconstruction"][:n].detach())

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        squared_error, loss, kl = self._sums.tolist()
        metrics = {f"{prefix}/reconstruction_error": squared_error / max(self._pixels, 1),
                   f"{prefix}/loss": loss / max(self._images, 1), f"{prefix}/kl": kl / max(self._images, 1)}
        return metrics

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        if self._shown is not None and self.num_images_shown:
            inputs, reconstructions = self._shown
            pairs = torch.cat([inputs, reconstructions], dim=-1)  # input | reconstruction, side by side
            logger.log_image(f"{prefix}/reconstructions", image_grid(pairs, nrow=4, min_tile=64), step)
        if hasattr(self.model, "sample"):
            logger.log_image(f"{prefix}/samples", image_grid(self.model.sample(self.fixed_noise)), step)

    def predict_step(self, batch: ImageBatch | None, options: Any) -> list[Prediction]:
        if batch is not None:
            reconstructions = torch.sigmoid(self.model(batch.pixels)["logits"].float())
            return [Prediction(name, batch.describe(index), {"reconstruction": to_uint8(reconstructions[index])})
                    for index, name in enumerate(batch.names)]
        if not hasattr(self.model, "sample"):
            raise UserError("A plain autoencoder has no prior to sample images from; give predict.inputs=PATH "
                            "to reconstruct image files, or train a VAE (model=vae) to sample.")
        device = self.fixed_noise.device
        z = torch.randn(options.num_samples, self.model.latent_dim, device=device,
                        generator=torch.Generator(device).manual_seed(options.seed))
        return sample_predictions(self.model.sample(z))

    def example_forward(self, batch: Any) -> Any:
        return self.model(self.pixels.to_unit(batch[0][:1]))

    def check_data(self, data: Any) -> None:
        bind_pixel_scale(self.name, self.pixels, data)
