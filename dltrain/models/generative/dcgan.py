"""DCGAN: deep convolutional GANs (Radford, Metz & Chintala, 2016).

The paper's architecture guidelines for a stable convolutional GAN:

* no pooling: the discriminator down-samples with strided convolutions and the
  generator up-samples with fractionally-strided (transposed) convolutions,
  so both learn their own spatial resampling;
* batch normalisation in both networks, except the generator's output layer
  and the discriminator's input layer;
* no fully connected hidden layers: the generator's first layer only projects
  z and reshapes it to a small feature map ("project and reshape"), the
  discriminator's last flattens its feature map into one logit;
* ReLU in the generator with tanh at the output; LeakyReLU (slope 0.2) in the
  discriminator;
* weights from N(0, 0.02).

Each 4x4 / stride-2 (transposed) convolution doubles (halves) the resolution.
The number of them is chosen from ``image_size``: halve while the size stays
even and at least 4, so 8 px -> 4x4 start (one up-sampling), 16 -> 4x4 (two),
28 -> 7x7 (two), 32 or 64 -> 4x4 (three, four). Widths double at each lower
resolution, ``features`` being the width at the highest one.
"""
from __future__ import annotations

from torch import nn

from dltrain.errors import UserError
from dltrain.models.generative.gan import AdversarialPair


def resolutions(image_size: int) -> tuple[int, int]:
    """(start size, number of doublings) with start * 2**doublings == image_size."""
    start, doublings = image_size, 0
    while start % 2 == 0 and start // 2 >= 4:
        start, doublings = start // 2, doublings + 1
    if doublings == 0:
        raise UserError(f"DCGAN needs an even image size of at least 8 px, got {image_size}; "
                        "set data.image_size=16 or 32.")
    return start, doublings


class DCGANGenerator(nn.Sequential):
    def __init__(self, latent_dim: int, in_channels: int, image_size: int, features: int) -> None:
        start, doublings = resolutions(image_size)
        widths = [features * 2 ** i for i in reversed(range(doublings))]  # lowest resolution first
        layers: list[nn.Module] = [  # project and reshape
            nn.Linear(latent_dim, widths[0] * start * start, bias=False),
            nn.Unflatten(1, (widths[0], start, start)),
            nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True),
        ]
        for width_in, width_out in zip(widths, widths[1:]):  # fractionally-strided convolutions
            layers += [nn.ConvTranspose2d(width_in, width_out, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(width_out), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], in_channels, 4, stride=2, padding=1), nn.Tanh()]
        super().__init__(*layers)


class DCGANDiscriminator(nn.Sequential):
    """Strided convolutions down to the start size, then one logit. ``batch_norm=False``
    gives the WGAN-GP critic, whose gradient penalty is per sample."""

    def __init__(self, in_channels: int, image_size: int, features: int, batch_norm: bool = True) -> None:
        start, doublings = resolutions(image_size)
        widths = [features * 2 ** i for i in range(doublings)]  # highest resolution first
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, stride=2, padding=1),  # no BN on the input
                                   nn.LeakyReLU(0.2, inplace=True)]
        for width_in, width_out in zip(widths, widths[1:]):
            layers.append(nn.Conv2d(width_in, width_out, 4, stride=2, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        layers += [nn.Flatten(), nn.Linear(widths[-1] * start * start, 1)]
        super().__init__(*layers)


def dcgan_init(module: nn.Module) -> None:
    """The paper's initialisation: weights ~ N(0, 0.02), BN scales ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGAN(AdversarialPair):
    def __init__(self, in_channels: int = 1, image_size: int = 16, latent_dim: int = 100,
                 generator_features: int = 32, discriminator_features: int = 32) -> None:
        super().__init__(
            DCGANGenerator(latent_dim, in_channels, image_size, generator_features),
            DCGANDiscriminator(in_channels, image_size, discriminator_features),
            latent_dim,
        )
        dcgan_init(self)
