"""A small StyleGAN-style generator (Karras, Laine & Aila, 2019) with a DCGAN discriminator.

The generator does not feed z to its first layer. Instead:

* a **mapping network** f, an MLP, turns z (normalised to unit length per
  dimension, "pixel norm") into an intermediate latent w = f(z), which need
  not follow the prior's shape and so can disentangle factors of variation;
* the **synthesis network** starts from a learned constant 4x4 map and at
  every layer takes a *style* from w: a learned affine map A gives per-channel
  (y_s, y_b) and **AdaIN** sets the feature map's statistics,

      AdaIN(x_i, y) = y_s,i * (x_i - mu(x_i)) / sigma(x_i) + y_b,i

  (instance normalisation, then the style's scale and bias);
* **per-layer noise**: before each AdaIN, a fresh N(0, 1) image times a
  learned per-channel scale B is added, for stochastic detail (hair, strokes)
  that the style does not have to encode.

Each resolution doubles (nearest up-sampling) and has two 3x3 convolutions,
each followed by noise, LeakyReLU(0.2) and AdaIN; a 1x1 "toRGB" convolution and
tanh give the image. Left out at this size: progressive growing, style
mixing regularisation, the truncation trick in w, equalised learning rate
(the mapping network's learning rate is the same as the rest).
The discriminator is DCGAN's, so ``model=stylegan`` trains with the GAN task.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models.generative.dcgan import DCGANDiscriminator, dcgan_init, resolutions
from dltrain.models.generative.gan import AdversarialPair


class MappingNetwork(nn.Sequential):
    """z -> pixel norm -> MLP (LeakyReLU 0.2) -> w."""

    def __init__(self, latent_dim: int, style_dim: int, layers: int) -> None:
        blocks: list[nn.Module] = []
        width = latent_dim
        for _ in range(layers):
            linear = nn.Linear(width, style_dim)
            nn.init.kaiming_normal_(linear.weight, a=0.2)  # w keeps z's unit scale through the layers
            nn.init.zeros_(linear.bias)
            blocks += [linear, nn.LeakyReLU(0.2)]
            width = style_dim
        super().__init__(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)  # pixel norm
        return super().forward(z)


class NoiseInjection(nn.Module):
    """x + B * noise: one noise image per sample, scaled per channel (B starts at 0)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(len(x), 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        return x + self.scale * noise


class AdaIN(nn.Module):
    """y_s * InstanceNorm(x) + y_b with (y_s, y_b) = A(w), the style of this layer."""

    def __init__(self, channels: int, style_dim: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels)
        self.affine = nn.Linear(style_dim, 2 * channels)  # A
        # unit-variance outputs for unit-scale w: styles vary from the start (with PyTorch's default,
        # smaller init every sample gets nearly the same style and the generator collapses to one image)
        nn.init.normal_(self.affine.weight, std=style_dim ** -0.5)
        nn.init.zeros_(self.affine.bias)
        with torch.no_grad():
            self.affine.bias[:channels] = 1  # y_s starts near 1: identity style

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, bias = self.affine(w)[:, :, None, None].chunk(2, dim=1)
        return scale * self.norm(x) + bias


class StyledConv(nn.Module):
    """conv 3x3 -> + noise -> LeakyReLU -> AdaIN(w)."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.noise = NoiseInjection(out_channels)
        self.adain = AdaIN(out_channels, style_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.adain(F.leaky_relu(self.noise(self.conv(x)), 0.2), w)


class SynthesisNetwork(nn.Module):
    """Constant start map -> (up-sample, two StyledConvs) per resolution -> toRGB -> tanh."""

    def __init__(self, style_dim: int, in_channels: int, image_size: int, features: int) -> None:
        super().__init__()
        start, doublings = resolutions(image_size)
        widths = [features * 2 ** i for i in reversed(range(doublings + 1))]  # lowest resolution first
        self.constant = nn.Parameter(torch.randn(1, widths[0], start, start))
        self.start_noise = NoiseInjection(widths[0])
        self.start_adain = AdaIN(widths[0], style_dim)
        self.start_conv = StyledConv(widths[0], widths[0], style_dim)
        self.layers = nn.ModuleList()
        for width_in, width_out in zip(widths, widths[1:]):
            self.layers.append(nn.ModuleList([StyledConv(width_in, width_out, style_dim),
                                              StyledConv(width_out, width_out, style_dim)]))
        self.to_rgb = nn.Conv2d(widths[-1], in_channels, 1)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        x = self.start_adain(self.start_noise(self.constant.repeat(len(w), 1, 1, 1)), w)
        x = self.start_conv(x, w)
        for first, second in self.layers:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = second(first(x, w), w)
        return torch.tanh(self.to_rgb(x))


class StyleGenerator(nn.Module):
    """z -> mapping network -> w -> synthesis network -> image (the same w styles every layer)."""

    def __init__(self, latent_dim: int, style_dim: int, mapping_layers: int, in_channels: int, image_size: int,
                 features: int) -> None:
        super().__init__()
        self.mapping = MappingNetwork(latent_dim, style_dim, mapping_layers)
        self.synthesis = SynthesisNetwork(style_dim, in_channels, image_size, features)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.mapping(z))


class StyleGAN(AdversarialPair):
    def __init__(self, in_channels: int = 1, image_size: int = 16, latent_dim: int = 64, style_dim: int = 64,
                 mapping_layers: int = 4, generator_features: int = 32, discriminator_features: int = 32) -> None:
        discriminator = DCGANDiscriminator(in_channels, image_size, discriminator_features)
        dcgan_init(discriminator)
        super().__init__(
            StyleGenerator(latent_dim, style_dim, mapping_layers, in_channels, image_size, generator_features),
            discriminator, latent_dim,
        )
