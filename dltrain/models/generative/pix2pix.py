"""Pix2Pix: image-to-image translation with a conditional GAN (Isola et al., 2017).

Given paired images (x, y) (an edge map and its photo), the generator G
learns y = G(x) and a conditional discriminator D sees the pair: D(x, y)
should say real, D(x, G(x)) fake. The generator's loss adds an L1 term,

    L_G = -log D(x, G(x)) + lambda * ||y - G(x)||_1,   lambda = 100,

so L1 fixes the low frequencies (where things are) and the adversarial term
the high frequencies (sharp strokes) that L1 alone blurs.

* **U-Net generator**: an encoder of 4x4 stride-2 convolutions (C64-C128-...,
  LeakyReLU 0.2, BatchNorm except the first) down to 1x1, and a mirror
  decoder of transposed convolutions (ReLU, BatchNorm, dropout 0.5 on the
  innermost layers as the paper's noise source) whose every layer also sees
  the encoder's map of the same size (skip connections, concatenated): the
  input's structure (edges) goes straight across.
* **PatchGAN discriminator**: fully convolutional, it classifies every
  overlapping N x N patch as real or fake and averages. It models only
  local texture and style; L1 handles the global layout.
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.errors import UserError


def unet_depth(image_size: int) -> int:
    """The number of stride-2 halvings from image_size down to 1x1."""
    depth, size = 0, image_size
    while size > 1 and size % 2 == 0:
        size, depth = size // 2, depth + 1
    if size != 1:
        raise UserError(f"The U-Net halves images down to 1x1 and needs a power-of-two size, got {image_size}; "
                        "set data.image_size=16, 32 or 256.")
    return depth


class UNetGenerator(nn.Module):
    """Encoder (C_k down to 1x1) and decoder with skip connections, tanh output."""

    def __init__(self, in_channels: int, out_channels: int, image_size: int, features: int = 64,
                 max_features: int = 512, dropout_layers: int = 3) -> None:
        super().__init__()
        depth = unet_depth(image_size)
        widths = [min(features * 2 ** i, max_features) for i in range(depth)]
        self.down = nn.ModuleList()
        width_in = in_channels
        for i, width in enumerate(widths):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(width_in, width, 4, stride=2, padding=1, bias=i in (0, depth - 1)))
            if 0 < i < depth - 1:  # no BN on the input layer nor on the 1x1 bottleneck (batch statistics of 1 pixel)
                layers.append(nn.BatchNorm2d(width))
            self.down.append(nn.Sequential(*layers))
            width_in = width
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):  # decoder layer i mirrors encoder layer i
            from_below = widths[i] if i == depth - 1 else 2 * widths[i]  # concatenated with the skip
            if i == 0:
                self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(from_below, out_channels, 4, 2, 1),
                                             nn.Tanh()))
                continue
            layers = [nn.ReLU(), nn.ConvTranspose2d(from_below, widths[i - 1], 4, 2, 1, bias=False),
                      nn.BatchNorm2d(widths[i - 1])]
            if depth - 1 - i < dropout_layers:  # the innermost decoder layers
                layers.append(nn.Dropout(0.5))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()  # the bottleneck itself
        for layer in self.up:
            x = layer(x)
            if skips:
                x = torch.cat([x, skips.pop()], dim=1)
        return x


class PatchDiscriminator(nn.Sequential):
    """C64-C128-...(stride 2) then C(stride 1) and a 1-channel map of patch logits (LeakyReLU 0.2).

    ``norm`` is BatchNorm2d (Pix2Pix) or InstanceNorm2d (CycleGAN); the input
    layer has none. Each output logit sees one receptive-field patch."""

    def __init__(self, in_channels: int, features: int = 64, layers: int = 3,
                 norm: type[nn.Module] = nn.BatchNorm2d) -> None:
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, features, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        width = features
        for i in range(1, layers + 1):
            stride = 2 if i < layers else 1
            width_out = features * min(2 ** i, 8)
            blocks += [nn.Conv2d(width, width_out, 4, stride=stride, padding=1, bias=False), norm(width_out),
                       nn.LeakyReLU(0.2)]
            width = width_out
        blocks.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        super().__init__(*blocks)


def normal_init(module: nn.Module) -> None:
    """The paper's initialisation: convolution weights ~ N(0, 0.02), norm scales ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Pix2Pix(nn.Module):
    """``generator``: x -> y; ``discriminator``: concat(x, y) -> patch logits."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, image_size: int = 16,
                 generator_features: int = 64, discriminator_features: int = 64, discriminator_layers: int = 3,
                 dropout_layers: int = 3) -> None:
        super().__init__()
        self.generator = UNetGenerator(in_channels, out_channels, image_size, generator_features,
                                       dropout_layers=dropout_layers)
        self.discriminator = PatchDiscriminator(in_channels + out_channels, discriminator_features,
                                                discriminator_layers)
        normal_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x)
