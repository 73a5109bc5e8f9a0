"""Stochastic perturbations of a whole batch of normalised images, drawn independently per image.

The consistency methods (Pi-model, Mean Teacher; dltrain/tasks/semi_supervised.py) need two differently
perturbed views of every image in every step. Done per image in the data loader (torchvision's RandomCrop)
that costs ~30x more than the network on small data; done here on the batch tensor it is a few vectorised
ops, on whatever device the batch is. The two perturbations of Laine & Aila (2017) and Tarvainen & Valpola
(2017):

* ``random_translate``: shift every image by up to ``max_shift`` pixels in x and y (pad by replicating the
  border, crop back at a random offset), the "padding + random crop" augmentation; the crop is the device
  loader's (``batch_augment.shift_batch``), with the border replicated instead of zeros.
* ``gaussian_noise``: add N(0, std^2) to every input value (std in units of the normalised input).

Randomness comes from torch's global generator, which the trainer seeds and checkpoints.
"""
from __future__ import annotations

import torch

from dltrain.data.augment.batch_augment import shift_batch


def random_translate(images: torch.Tensor, max_shift: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H, W), each image shifted by its own (dy, dx) in [-max_shift, max_shift]^2."""
    if max_shift <= 0:
        return images
    offsets = torch.randint(0, 2 * max_shift + 1, (len(images), 2), device=images.device)
    # replicated border pixels are background on digits; zeros would be a mean-grey frame in normalised units
    return shift_batch(images, offsets, max_shift, pad_mode="replicate")


def gaussian_noise(images: torch.Tensor, std: float) -> torch.Tensor:
    """images + N(0, std^2) noise, elementwise."""
    if std <= 0:
        return images
    return images + std * torch.randn_like(images)


def perturb(images: torch.Tensor, max_shift: int = 0, noise_std: float = 0.0) -> torch.Tensor:
    """A random translation, then Gaussian noise: one stochastic view of each image."""
    return gaussian_noise(random_translate(images, max_shift), noise_std)
