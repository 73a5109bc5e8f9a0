"""A small BigGAN-style class-conditional GAN (Brock, Donahue & Simonyan, 2019).

Three ideas make the class y part of the game:

* **Conditional batch normalisation** in the generator: every BatchNorm
  normalises without its own affine weights and takes its scale and shift
  from the class, gamma(y) = 1 + E_gamma[y], beta(y) = E_beta[y] (de Vries et
  al., 2017), so one generator draws every class.
* **Projection discriminator** (Miyato & Koyama, 2018): with h = phi(x) the
  pooled features, D(x, y) = psi(h) + <embed(y), h>. The inner product with
  the class embedding scores "is this a real image *of class y*".
* **Spectral normalisation** (Miyato et al., 2018) of every weight, W / sigma(W)
  (largest singular value, by power iteration), in both networks, which keeps
  D Lipschitz and training stable (``torch.nn.utils.parametrizations.spectral_norm``).

Both networks are stacks of residual blocks: the generator's up-sample
(nearest, x2) inside each block, the discriminator's down-sample (average
pooling). Sampling uses the **truncation trick**: z is drawn from a normal
truncated to |z_i| <= threshold (values outside are redrawn), trading
variety for fidelity (``truncated_noise``). Left out of this small version:
self-attention, the hierarchical latent (z split across blocks), the shared
class embedding and orthogonal regularisation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from dltrain.models.generative.dcgan import resolutions
from dltrain.models.generative.gan import AdversarialPair


def truncated_noise(n: int, latent_dim: int, threshold: float | None, device: torch.device | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """z ~ N(0, I) with every coordinate redrawn until |z_i| <= threshold (no truncation when None)."""
    z = torch.randn(n, latent_dim, device=device, generator=generator)
    if threshold is None:
        return z
    outside = z.abs() > threshold
    while outside.any():
        z = torch.where(outside, torch.randn(z.shape, device=device, generator=generator), z)
        outside = z.abs() > threshold
    return z


def sn_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2))


class ConditionalBatchNorm2d(nn.Module):
    """BN(x) * (1 + gamma[y]) + beta[y]: per-class scale and shift."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.zeros_(self.gamma.weight)  # starts as plain BatchNorm
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.gamma(y)[:, :, None, None], self.beta(y)[:, :, None, None]
        return self.norm(x) * (1 + gamma) + beta


class GBlock(nn.Module):
    """Generator residual block: CBN-ReLU-up-conv-CBN-ReLU-conv, plus up-sampled 1x1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(in_channels, num_classes)
        self.conv1 = sn_conv(in_channels, out_channels, 3)
        self.bn2 = ConditionalBatchNorm2d(out_channels, num_classes)
        self.conv2 = sn_conv(out_channels, out_channels, 3)
        self.shortcut = sn_conv(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """Discriminator residual block: (ReLU)-conv-ReLU-conv-avgpool, plus 1x1 conv-avgpool shortcut."""

    def __init__(self, in_channels: int, out_channels: int, first: bool) -> None:
        super().__init__()
        self.first = first  # no ReLU on raw pixels
        self.conv1 = sn_conv(in_channels, out_channels, 3)
        self.conv2 = sn_conv(out_channels, out_channels, 3)
        self.shortcut = sn_conv(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        return h + F.avg_pool2d(self.shortcut(x), 2)


class BigGANGenerator(nn.Module):
    """(z, y) -> linear to a start x start map -> GBlocks (x2 each) -> BN-ReLU-conv -> tanh."""

    def __init__(self, latent_dim: int, num_classes: int, in_channels: int, image_size: int, features: int) -> None:
        super().__init__()
        self.start, doublings = resolutions(image_size)
        widths = [features * 2 ** i for i in reversed(range(doublings + 1))]  # lowest resolution first
        self.linear = spectral_norm(nn.Linear(latent_dim, widths[0] * self.start ** 2))
        self.blocks = nn.ModuleList(GBlock(a, b, num_classes) for a, b in zip(widths, widths[1:]))
        self.output = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU(), sn_conv(widths[-1], in_channels, 3),
                                    nn.Tanh())

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.linear(z).view(len(z), -1, self.start, self.start)
        for block in self.blocks:
            h = block(h, y)
        return self.output(h)


class ProjectionDiscriminator(nn.Module):
    """D(x, y) = psi(h) + <embed(y), h>, h = sum-pooled ReLU features of the DBlocks."""

    def __init__(self, num_classes: int, in_channels: int, image_size: int, features: int) -> None:
        super().__init__()
        _, halvings = resolutions(image_size)
        widths = [in_channels] + [features * 2 ** i for i in range(halvings)]
        self.blocks = nn.Sequential(*(DBlock(a, b, first=i == 0) for i, (a, b) in enumerate(zip(widths, widths[1:]))))
        self.psi = spectral_norm(nn.Linear(widths[-1], 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, widths[-1]))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling
        return self.psi(h) + (self.embed(y) * h).sum(dim=1, keepdim=True)


class BigGAN(AdversarialPair):
    """A class-conditional pair: ``generator(z, y)`` and ``discriminator(x, y)``."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 16, latent_dim: int = 64,
                 generator_features: int = 32, discriminator_features: int = 32) -> None:
        super().__init__(
            BigGANGenerator(latent_dim, num_classes, in_channels, image_size, generator_features),
            ProjectionDiscriminator(num_classes, in_channels, image_size, discriminator_features),
            latent_dim,
        )
        self.num_classes = num_classes

    def noise(self, n: int, device: torch.device | None = None, generator: torch.Generator | None = None,
              truncation: float | None = None) -> torch.Tensor:
        return truncated_noise(n, self.latent_dim, truncation, device, generator)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.generator(z, y)
