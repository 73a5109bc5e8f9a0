"""Masked-autoencoder pre-training (He et al., 2021): predict the hidden patches of an image.

The model (``dltrain.models.selfsup.mae``) returns a prediction for every
patch and the mask (1 = hidden); the loss is the mean squared error over the
hidden patches only,

    L = sum_i m_i * mean_j (x_hat_ij - t_ij)^2 / sum_i m_i

with the targets t from ``model.targets`` (per-patch normalised pixels when
``norm_pix_loss``). Visible patches are copied at inference anyway, so they
carry no learning signal.

Validation: ``val/masked_mse``, the same quantity exact over the pass (the
monitor, min). Validation masks come from a generator seeded by the batch
index, so every epoch hides the same patches and the metric moves only with
the model. TensorBoard gets three grids at validation end: the masked input
(hidden patches grey) | the reconstruction (predicted hidden patches, pasted
into the visible ones, in pixels: the per-patch normalisation undone) | the
original.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dltrain.tasks.base import Task
from dltrain.tasks.images import PixelScale, bind_pixel_scale, image_grid


def masked_squared_error(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-patch mean squared error (B, N) times the mask: visible patches contribute zero."""
    return (prediction - target).square().mean(dim=-1) * mask


class MaskedAutoencoderTask(Task):
    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        name: str = "masked_autoencoder",
        monitor: str = "val/masked_mse",
        monitor_mode: str = "min",
        num_images_shown: int = 16,
    ) -> None:
        """``loss`` (the root config's) is ignored: the masked-patch MSE is this task's own."""
        super().__init__(model, name, monitor, monitor_mode)
        self.num_images_shown = num_images_shown
        self.pixels = PixelScale()
        self._sums = torch.zeros(2, dtype=torch.float64)  # squared error over hidden patches, hidden patches
        self._shown: dict[str, torch.Tensor] | None = None  # the first validation batch, drawn at the end

    def losses(self, images: torch.Tensor, noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        output = self.model(images, noise)
        prediction = output["prediction"].float()
        error = masked_squared_error(prediction, self.model.targets(images.float()), output["mask"])
        return {"error": error, "mask": output["mask"], "prediction": prediction}

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        parts = self.losses(batch[0])
        return parts["error"].sum() / parts["mask"].sum()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images = batch[0]
        # the same masks every epoch: a fixed generator per batch (on the CPU: the same on every device)
        generator = torch.Generator().manual_seed(batch_idx)
        noise = torch.rand(images.shape[0], self.model.encoder.num_patches, generator=generator).to(images.device)
        parts = self.losses(images, noise)
        if self._sums.device != images.device:
            self._sums = self._sums.to(images.device)
        self._sums += torch.stack([parts["error"].sum(), parts["mask"].sum()]).double()
        if batch_idx == 0 and self.num_images_shown:
            n = self.num_images_shown
            self._shown = {"images": images[:n].detach().float(), "mask": parts["mask"][:n].detach(),
                           "prediction": parts["prediction"][:n].detach()}

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        error, hidden = self._sums.tolist()
        return {f"{prefix}/masked_mse": error / max(hidden, 1.0)}

    def reset_metrics(self) -> None:
        self._sums.zero_()

    def reconstruction_grids(self, images: torch.Tensor, mask: torch.Tensor,
                             prediction: torch.Tensor) -> dict[str, torch.Tensor]:
        """Masked input, reconstruction and original, each (B, C, H, W) in [0, 1]."""
        if self.model.norm_pix_loss:  # predictions are in per-patch units: back to the patch's own scale
            mean, std = self.model.patch_statistics(images)
            prediction = prediction * std + mean
        hidden = mask.unsqueeze(-1)  # (B, N, 1)
        channels = images.shape[1]
        patches = self.model.patchify(images)
        pasted = self.model.unpatchify(patches * (1 - hidden) + prediction * hidden, channels)
        original = self.pixels.to_unit(images).clamp(0, 1)
        grey = self.model.unpatchify(hidden.expand_as(patches), channels)  # 1 where the encoder saw nothing
        return {"masked": original * (1 - grey) + 0.5 * grey,
                "reconstructed": self.pixels.to_unit(pasted).clamp(0, 1), "original": original}

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        if self._shown is None:
            return
        grids = self.reconstruction_grids(**self._shown)
        # one row per view: masked | reconstructed | original, images in the same columns
        rows = torch.cat([grids["masked"], grids["reconstructed"], grids["original"]])
        logger.log_image(f"{prefix}/masked_reconstructed_original", image_grid(rows, nrow=len(grids["original"])),
                         step)
        self._shown = None

    def check_data(self, data: Any) -> None:
        bind_pixel_scale(self.name, self.pixels, data)
