"""Building blocks shared by several architectures.

Only blocks that at least two model files use live here; a block that
belongs to one paper stays in that paper's file.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.models import transfer


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` (MobileNet / EfficientNet rule).

    Never rounds down by more than 10%, as in the reference implementations.
    """
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvNormAct(nn.Sequential):
    """Conv2d -> BatchNorm2d -> activation, the unit most CNNs are built of.

    ``padding`` defaults to "same" for odd kernels; ``activation=None`` drops it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int = 1,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        dilation: int = 1,
        activation: type[nn.Module] | None = nn.ReLU,
        norm: type[nn.Module] | None = nn.BatchNorm2d,
        bias: bool | None = None,
    ) -> None:
        if padding is None:
            if isinstance(kernel_size, tuple):
                padding = tuple((k - 1) // 2 * dilation for k in kernel_size)
            else:
                padding = (kernel_size - 1) // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, padding,
                dilation=dilation, groups=groups,
                bias=norm is None if bias is None else bias,
            )
        ]
        if norm is not None:
            layers.append(norm(out_channels))
        if activation is not None:
            layers.append(activation(inplace=True) if _accepts_inplace(activation) else activation())
        super().__init__(*layers)
        self.out_channels = out_channels


def _accepts_inplace(activation: type[nn.Module]) -> bool:
    return activation in (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.LeakyReLU)


class SqueezeExcitation(nn.Module):
    """Channel attention (SENet): global pool -> bottleneck MLP -> sigmoid gate."""

    def __init__(
        self,
        channels: int,
        squeeze_channels: int,
        activation: type[nn.Module] = nn.ReLU,
        gate: type[nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = activation()
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch per sample while training."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


def is_small_image(image_size: int) -> bool:
    """Inputs below 64 px (digits, MNIST, CIFAR) use small-image stems."""
    return image_size < 64


def kaiming_init(module: nn.Module) -> None:
    """He initialisation for conv layers (ReLU networks), unit BN, small linear init."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def imagenet_to_google_input(x: torch.Tensor) -> torch.Tensor:
    """Re-normalise an ImageNet-normalised batch to the [-1, 1] range Google's released weights expect.

    torchvision's GoogLeNet and Inception-v3 weights were ported from TensorFlow, whose models take
    (pixel - 0.5) / 0.5; torchvision turns this on (``transform_input``) whenever it loads them, and so do we.
    """
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * std + mean - 0.5) / 0.5


def prepare_with_aux_heads(
    model_class: type[nn.Module],
    torchvision_name: str,
    pretrained: bool,
    freeze_backbone: bool,
    aux_logits: bool,
    **kwargs,
) -> nn.Module:
    """Build and prepare a classifier with auxiliary heads (GoogLeNet, Inception v3).

    torchvision's weight files contain the auxiliary heads, so the position-by-position copy
    needs them; they are dropped afterwards (``drop_aux_heads``) when not wanted, as torchvision does.
    """
    model = model_class(aux_logits=aux_logits or pretrained, **kwargs)
    model = transfer.prepare(model, torchvision_name, pretrained, freeze=False)
    model.transform_input = pretrained  # the released weights expect Google's input range
    if not aux_logits and model.aux_logits:
        model.drop_aux_heads()
    return transfer.freeze_backbone(model) if freeze_backbone else model


def flat_input_size(num_features: int | None = None, in_channels: int | None = None,
                    image_size: int | Sequence[int] | None = None, seq_len: int | None = None) -> int:
    """How many numbers one example holds, from the data's facts: F features (a table), C x L values (a signal of
    L steps) or C x H x W pixels (an image). The models that flatten their input (MLP, linear / logistic /
    softmax regression) take any of the three."""
    if num_features:
        return int(num_features)
    if in_channels and seq_len:
        return int(in_channels) * int(seq_len)
    if in_channels and image_size:
        height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
        return int(in_channels) * int(height) * int(width)
    raise UserError(
        "A model that flattens its input needs the size of one example, and the data states none: "
        "data.num_features (a table), or data.in_channels with data.seq_len (signals) or data.image_size (images); "
        "pick a data config of these kinds, or a model of the data's own family (text: model=lstm_classifier; "
        "`dltrain --help` lists them)."
    )
