"""Autoencoders and the variational autoencoder (Kingma & Welling, 2014).

An autoencoder compresses an image x into a code z = encoder(x) of
``latent_dim`` numbers and reconstructs x^ = decoder(z); training minimises
the reconstruction error, so the bottleneck must keep what matters.

A VAE makes the code probabilistic. The encoder outputs the mean mu and the
log-variance log sigma^2 of q(z | x) = N(mu, sigma^2 I); the loss is the
negative evidence lower bound

    -ELBO = E_q[-log p(x | z)] + beta * KL(q(z | x) || N(0, I)),
    KL    = -1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2),

(beta = 1 is the VAE, beta > 1 the beta-VAE; the loss lives in
``dltrain.tasks.autoencoder``). Sampling z = mu + sigma * eps with
eps ~ N(0, I) — the reparameterisation trick — lets gradients flow to mu and
sigma. New images are decoded from z ~ N(0, I). In eval mode the VAE encodes
to z = mu, so validation reconstructions are deterministic.

The decoder returns logits; sigmoid(logits) are pixels in [0, 1] (the
Bernoulli means of the paper's binary-image likelihood).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _mlp(sizes: Sequence[int]) -> list[nn.Module]:
    """Linear layers between consecutive sizes, ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (width_in, width_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(width_in, width_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return layers


class Autoencoder(nn.Module):
    def __init__(self, in_channels: int = 1, image_size: int = 8, hidden_sizes: Sequence[int] = (128,),
                 latent_dim: int = 8) -> None:
        super().__init__()
        pixels = in_channels * image_size * image_size
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), *_mlp([pixels, *hidden_sizes, self.code_size()]))
        self.decoder = nn.Sequential(*_mlp([latent_dim, *reversed(hidden_sizes), pixels]),
                                     nn.Unflatten(1, (in_channels, image_size, image_size)))

    def code_size(self) -> int:
        return self.latent_dim

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encoder(x)
        return {"logits": self.decoder(z), "z": z}


class VAE(Autoencoder):
    def code_size(self) -> int:
        return 2 * self.latent_dim  # mu and log sigma^2

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I); the mean itself in eval mode."""
        if not self.training:
            return mu
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = self.reparameterize(mu, logvar)
        return {"logits": self.decoder(z), "z": z, "mu": mu, "logvar": logvar}

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] decoded from prior samples z ~ N(0, I)."""
        return torch.sigmoid(self.decoder(z))
