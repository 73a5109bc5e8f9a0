"""CycleGAN: unpaired image-to-image translation (Zhu, Park, Isola & Efros, 2017).

Two domains A and B (horses / zebras; thin / thick strokes) and no pairs.
Two generators, G: A -> B and F: B -> A, and two discriminators, D_B (is this
a real B?) and D_A. Adversarial losses alone would let G map every A to any
plausible B; **cycle consistency** ties each image to its translation:

    L_cyc = ||F(G(a)) - a||_1 + ||G(F(b)) - b||_1,

and an **identity** loss ||G(b) - b||_1 + ||F(a) - a||_1 keeps colours (and
whatever already belongs to the target domain) unchanged. The adversarial
terms use the least-squares (LSGAN) loss. The training lives in
``dltrain.tasks.image_translation``.

* **Generator** (Johnson et al.'s style-transfer network): c7s1-k (7x7
  convolution, InstanceNorm, ReLU), two stride-2 down-samplings, residual
  blocks, two fractionally-strided up-samplings, c7s1 to the image with tanh.
  Reflection padding avoids border artefacts. The paper uses 64 features and
  9 blocks at 256 px; the config's defaults are small for 16 px digits.
* **Discriminators**: 70x70 PatchGANs (``pix2pix.PatchDiscriminator``) with
  InstanceNorm, seeing one image (no conditioning input).
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.models.generative.pix2pix import PatchDiscriminator, normal_init


class ResidualBlock(nn.Module):
    """x + (reflect-pad, conv 3x3, IN, ReLU, reflect-pad, conv 3x3, IN)(x)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetGenerator(nn.Sequential):
    """c7s1-k, d2k, d4k, R4k x blocks, u2k, uk, c7s1-C with tanh."""

    def __init__(self, in_channels: int, out_channels: int, features: int = 64, blocks: int = 9) -> None:
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, features, 7),
                                   nn.InstanceNorm2d(features), nn.ReLU()]
        width = features
        for _ in range(2):  # d2k, d4k
            layers += [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * width), nn.ReLU()]
            width *= 2
        layers += [ResidualBlock(width) for _ in range(blocks)]
        for _ in range(2):  # u2k, uk
            layers += [nn.ConvTranspose2d(width, width // 2, 3, stride=2, padding=1, output_padding=1),
                       nn.InstanceNorm2d(width // 2), nn.ReLU()]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        super().__init__(*layers)


class CycleGAN(nn.Module):
    """``generator_ab`` (G), ``generator_ba`` (F), ``discriminator_a``, ``discriminator_b``."""

    def __init__(self, in_channels: int = 1, generator_features: int = 64, residual_blocks: int = 9,
                 discriminator_features: int = 64, discriminator_layers: int = 3) -> None:
        super().__init__()
        self.generator_ab = ResNetGenerator(in_channels, in_channels, generator_features, residual_blocks)
        self.generator_ba = ResNetGenerator(in_channels, in_channels, generator_features, residual_blocks)
        self.discriminator_a = PatchDiscriminator(in_channels, discriminator_features, discriminator_layers,
                                                  nn.InstanceNorm2d)
        self.discriminator_b = PatchDiscriminator(in_channels, discriminator_features, discriminator_layers,
                                                  nn.InstanceNorm2d)
        normal_init(self)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.generator_ab(a)
