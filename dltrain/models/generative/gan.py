"""Generative adversarial networks (Goodfellow et al., 2014), with multilayer perceptrons.

Two networks play a game. The generator G maps noise z ~ N(0, I) to an image;
the discriminator D outputs the probability that an image is real. D maximises

    V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

and G minimises it. Early in training D rejects G's samples easily, so
log(1 - D(G(z))) saturates and gives G no gradient; the paper's fix, used by
``dltrain.tasks.gan``, is the non-saturating loss: G maximises log D(G(z)),
i.e. minimises -log D(G(z)).

``AdversarialPair`` holds the two networks; every adversarial model here (GAN,
DCGAN, WGAN-GP) is one, so the task trains them all the same way. The
discriminator returns a logit (the sigmoid lives in the loss, for stability).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class AdversarialPair(nn.Module):
    """A generator G: z -> image and a discriminator (or critic) D: image -> score."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim

    def noise(self, n: int, device: torch.device | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), the prior the generator turns into images."""
        return torch.randn(n, self.latent_dim, device=device, generator=generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)


class Generator(nn.Sequential):
    """z -> hidden layers (ReLU) -> pixels in [-1, 1] (tanh), reshaped to an image."""

    def __init__(self, latent_dim: int, in_channels: int, image_size: int, hidden_sizes: Sequence[int]) -> None:
        layers: list[nn.Module] = []
        width = latent_dim
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            width = hidden
        layers += [nn.Linear(width, in_channels * image_size * image_size), nn.Tanh(),
                   nn.Unflatten(1, (in_channels, image_size, image_size))]
        super().__init__(*layers)


class Discriminator(nn.Sequential):
    """Image -> hidden layers -> one logit. LeakyReLU and dropout stand in for the paper's maxout + dropout."""

    def __init__(self, in_channels: int, image_size: int, hidden_sizes: Sequence[int], dropout: float) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * image_size * image_size
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        super().__init__(*layers)


class GAN(AdversarialPair):
    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 8,
        latent_dim: int = 32,
        generator_hidden: Sequence[int] = (128, 256),
        discriminator_hidden: Sequence[int] = (256, 128),
        dropout: float = 0.3,
    ) -> None:
        super().__init__(
            Generator(latent_dim, in_channels, image_size, generator_hidden),
            Discriminator(in_channels, image_size, discriminator_hidden, dropout),
            latent_dim,
        )
