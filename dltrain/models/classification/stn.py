"""Spatial Transformer Network (STN), Jaderberg et al., "Spatial Transformer Networks", 2015.

A CNN is only slightly invariant to where and how large the object is. A
spatial transformer is a differentiable module that learns to undo such
variation before classification, from the class loss alone:

1. localisation network: a small CNN regresses the 6 parameters theta of an
   affine map (rotation, scale, shear, translation) from the input image;
2. grid generator: for every output pixel, theta gives the input location
   to read (``F.affine_grid``, normalised [-1, 1] coordinates);
3. sampler: bilinear interpolation reads the input there (``F.grid_sample``),
   which is differentiable in both the image and the grid.

The last localisation layer starts at zero weight and identity bias, so the
untrained STN passes the image through unchanged and the classifier behind it
trains as usual while the transformer learns to help.

``STN`` is a front-end for any classifier: it wraps an already built
``backbone`` (Hydra builds the nested ``backbone`` config) and feeds it the
transformed image. The classifier head is the backbone's: ``head_names`` is
``("backbone.head",)`` (or the backbone's own head names, prefixed).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.errors import UserError
from dltrain.models import transfer


class LocalisationNetwork(nn.Module):
    """Conv -> ReLU (-> MaxPool while the map is >= 8 px) per width, a coarse pooled grid, FC -> theta."""

    def __init__(
        self, in_channels: int, image_size: int, channels: Sequence[int] = (8, 16, 32), hidden: int = 64
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = image_size
        for width in channels:
            layers += [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            if size >= 8:  # keep enough resolution to see where the object is
                layers.append(nn.MaxPool2d(2))
                size //= 2
            in_channels = width
        grid = min(4, size)  # a coarse spatial grid keeps the "where" a translation needs
        layers += [nn.AdaptiveAvgPool2d(grid), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(in_channels * grid * grid, hidden), nn.ReLU(inplace=True))
        self.theta = nn.Linear(hidden, 6)
        # start at the identity transform: zero weight, bias = [1 0 0; 0 1 0]
        nn.init.zeros_(self.theta.weight)
        with torch.no_grad():
            self.theta.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.theta(self.fc(self.features(x))).view(-1, 2, 3)


class STN(nn.Module):
    """Spatial transformer in front of ``backbone``: localise, resample, classify."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        localisation_channels: Sequence[int] = (8, 16, 32),
    ) -> None:
        super().__init__()
        # num_classes is the backbone's business; check it agrees when the backbone ends in a Linear
        linears = [m for m in backbone.get_submodule("head").modules() if isinstance(m, nn.Linear)]
        if linears and linears[-1].out_features != num_classes:
            raise UserError(
                f"The STN backbone predicts {linears[-1].out_features} classes but the data has "
                f"{num_classes}; leave model.backbone.num_classes=${{data.num_classes}}."
            )
        self.localisation = LocalisationNetwork(in_channels, image_size, localisation_channels)
        self.backbone = backbone
        self.head_names = tuple(f"backbone.{name}" for name in getattr(backbone, "head_names", ("head",)))

    @property
    def head(self) -> nn.Module:
        return self.backbone.head

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The resampled image the backbone sees (useful to visualise what the STN learned)."""
        theta = self.localisation(x)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict:
        return self.backbone(self.transform(x))


def stn(backbone: nn.Module, pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> STN:
    if pretrained:
        raise UserError(
            "The spatial transformer has no pretrained weights; load them into the classifier "
            "with model.backbone.pretrained=true and keep model.pretrained=false."
        )
    return transfer.prepare(STN(backbone, **kwargs), None, pretrained, freeze_backbone)
