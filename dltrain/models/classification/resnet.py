"""ResNet (He et al., 2015), ResNeXt (Xie et al., 2016) and SE-ResNet (Hu et al., 2017).

Deep plain networks train *worse* than shallow ones (the degradation problem),
although a deeper net could copy the shallow one and set its extra layers to
the identity. ResNet makes that copy easy: every block learns a residual
``F(x)`` and outputs ``relu(F(x) + x)``; pushing ``F`` to zero gives the
identity, and the shortcut carries gradients straight to early layers.

* ``BasicBlock`` (ResNet-18/34): two 3x3 convolutions.
* ``Bottleneck`` (ResNet-50/101/152): 1x1 reduces the width, 3x3 works on the
  thin tensor, 1x1 expands it 4x again; the stride sits on the 3x3 conv
  (torchvision's "v1.5", slightly more accurate than the paper's 1x1 stride).
* ResNeXt splits the bottleneck's 3x3 into ``groups`` parallel paths
  (cardinality) of ``width_per_group`` channels each: a grouped convolution.
* SE-ResNet rescales each block's output channels by a learned gate
  (Squeeze-and-Excitation) before the residual addition.

The network is a stem, four stages (``layer1`` .. ``layer4``, each halving the
resolution after the first and doubling the width) and a pooled linear head.
Other model families reuse it as a backbone through ``stem``, ``layer1`` ..
``layer4``, ``stage_channels`` and ``forward_features``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models import transfer
from dltrain.models.layers import ConvNormAct, SqueezeExcitation, is_small_image, kaiming_init


def projection_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """The shortcut of a block: identity when shapes agree, else a strided 1x1 conv + BN (option B)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return ConvNormAct(in_channels, out_channels, 1, stride, activation=None)


class ResidualBlock(nn.Module):
    """Residual branch (``branch_names``, applied in order), optional SE on it, shortcut, ReLU after the sum.

    Subclasses set ``expansion`` and build the branch convolutions in ``build_branch``; the last
    one ends in a BN with no activation (ReLU comes after the addition, so F(x) can be negative).
    """

    expansion = 1
    branch_names: tuple[str, ...] = ()

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        width_per_group: int = 64,
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.build_branch(in_channels, channels, stride, dilation, groups, width_per_group)
        # SE recalibrates the residual branch only, so the identity path stays untouched.
        self.se = (
            SqueezeExcitation(out_channels, out_channels // se_reduction) if se_reduction else nn.Identity()
        )
        self.shortcut = projection_shortcut(in_channels, out_channels, stride)
        self.relu = nn.ReLU(inplace=True)

    def build_branch(
        self, in_channels: int, channels: int, stride: int, dilation: int, groups: int, width_per_group: int
    ) -> None:
        raise NotImplementedError

    @property
    def last_norm(self) -> nn.BatchNorm2d:
        """The BN that ends the residual branch (zeroed by ``zero_init_residual``)."""
        return getattr(self, self.branch_names[-1])[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        for name in self.branch_names:
            residual = getattr(self, name)(residual)
        return self.relu(self.se(residual) + self.shortcut(x))


class BasicBlock(ResidualBlock):
    """Two 3x3 conv-BN layers, optional SE, with a shortcut around them (ResNet-18/34)."""

    expansion = 1
    branch_names = ("conv1", "conv2")

    def build_branch(
        self, in_channels: int, channels: int, stride: int, dilation: int, groups: int, width_per_group: int
    ) -> None:
        if groups != 1 or width_per_group != 64:
            raise ValueError("BasicBlock has no grouped (ResNeXt) variant; use Bottleneck.")
        self.conv1 = ConvNormAct(in_channels, channels, 3, stride, dilation=dilation)
        self.conv2 = ConvNormAct(channels, channels, 3, dilation=dilation, activation=None)


class Bottleneck(ResidualBlock):
    """1x1 reduce -> 3x3 (grouped for ResNeXt) -> 1x1 expand, optional SE, plus shortcut."""

    expansion = 4
    branch_names = ("conv1", "conv2", "conv3")

    def build_branch(
        self, in_channels: int, channels: int, stride: int, dilation: int, groups: int, width_per_group: int
    ) -> None:
        # ResNeXt's "32x4d": 32 paths of 4 channels at the first stage (channels=64),
        # so the 3x3 conv is 128 wide instead of ResNet's 64, at similar cost.
        width = int(channels * width_per_group / 64) * groups
        self.conv1 = ConvNormAct(in_channels, width, 1)
        self.conv2 = ConvNormAct(width, width, 3, stride, groups=groups, dilation=dilation)
        self.conv3 = ConvNormAct(width, channels * self.expansion, 1, activation=None)


class ResNet(nn.Module):
    """Stem, four residual stages, global average pooling and a linear ``head``.

    ``replace_stride_with_dilation`` (three flags, for ``layer2`` .. ``layer4``)
    keeps the resolution of a stage and dilates its convolutions instead, as
    DeepLab-style segmentation backbones need.
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        se_reduction: int | None = None,
        replace_stride_with_dilation: Sequence[bool] = (False, False, False),
    ) -> None:
        super().__init__()
        if len(layers) != 4 or len(replace_stride_with_dilation) != 3:
            raise ValueError("ResNet needs 4 stage depths and 3 replace_stride_with_dilation flags.")
        block_options = dict(groups=groups, width_per_group=width_per_group, se_reduction=se_reduction)
        if is_small_image(image_size):
            # CIFAR-style stem: a 7x7/2 conv and a max-pool would shrink 32 px to 8 px
            # before the first block; a 3x3/1 conv keeps the full resolution.
            self.stem = nn.Sequential(ConvNormAct(in_channels, 64, 3))
        else:
            self.stem = nn.Sequential(
                ConvNormAct(in_channels, 64, 7, stride=2),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        self._in_channels = 64
        self._dilation = 1
        dilate = replace_stride_with_dilation
        self.layer1 = self._make_stage(block, 64, layers[0], 1, False, block_options)
        self.layer2 = self._make_stage(block, 128, layers[1], 2, dilate[0], block_options)
        self.layer3 = self._make_stage(block, 256, layers[2], 2, dilate[1], block_options)
        self.layer4 = self._make_stage(block, 512, layers[3], 2, dilate[2], block_options)
        self.stage_channels = tuple(c * block.expansion for c in (64, 128, 256, 512))
        self.num_features = self.stage_channels[-1]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(self.num_features, num_classes)

        kaiming_init(self)
        if zero_init_residual:
            # Each block then starts as the identity, which helps large-batch training
            # (Goyal et al., 2017, "ImageNet in 1 hour").
            for module in self.modules():
                if isinstance(module, ResidualBlock):
                    nn.init.zeros_(module.last_norm.weight)

    def _make_stage(
        self,
        block: type[BasicBlock | Bottleneck],
        channels: int,
        num_blocks: int,
        stride: int,
        dilate: bool,
        block_options: dict,
    ) -> nn.Sequential:
        """``num_blocks`` blocks; only the first one changes resolution and width."""
        first_dilation = self._dilation
        if dilate:
            self._dilation *= stride
            stride = 1
        blocks = [block(self._in_channels, channels, stride, first_dilation, **block_options)]
        self._in_channels = channels * block.expansion
        blocks += [
            block(self._in_channels, channels, dilation=self._dilation, **block_options)
            for _ in range(1, num_blocks)
        ]
        return nn.Sequential(*blocks)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map before pooling, (N, ``num_features``, H/32, W/32) at the paper stem."""
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.forward_features(x)), 1))


def _build(
    torchvision_name: str | None,
    pretrained: bool,
    freeze_backbone: bool,
    block: type[BasicBlock | Bottleneck],
    layers: Sequence[int],
    **kwargs,
) -> ResNet:
    model = ResNet(block, layers, **kwargs)
    return transfer.prepare(model, torchvision_name, pretrained, freeze_backbone)


def resnet18(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> ResNet:
    return _build("resnet18", pretrained, freeze_backbone, BasicBlock, (2, 2, 2, 2), **kwargs)


def resnet34(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> ResNet:
    return _build("resnet34", pretrained, freeze_backbone, BasicBlock, (3, 4, 6, 3), **kwargs)


def resnet50(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> ResNet:
    return _build("resnet50", pretrained, freeze_backbone, Bottleneck, (3, 4, 6, 3), **kwargs)


def resnet101(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> ResNet:
    return _build("resnet101", pretrained, freeze_backbone, Bottleneck, (3, 4, 23, 3), **kwargs)


def resnet152(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> ResNet:
    return _build("resnet152", pretrained, freeze_backbone, Bottleneck, (3, 8, 36, 3), **kwargs)


def resnext50_32x4d(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> ResNet:
    return _build(
        "resnext50_32x4d", pretrained, freeze_backbone, Bottleneck, (3, 4, 6, 3),
        groups=32, width_per_group=4, **kwargs,
    )


def se_resnet50(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> ResNet:
    # torchvision has no SE-ResNet, hence no weights to load.
    return _build(None, pretrained, freeze_backbone, Bottleneck, (3, 4, 6, 3), se_reduction=16, **kwargs)
