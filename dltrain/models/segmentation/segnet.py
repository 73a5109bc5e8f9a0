"""SegNet (Badrinarayanan, Kendall & Cipolla, 2015): decoding with the encoder's pooling indices.

The encoder is VGG-16's 13 convolutions with BatchNorm. Each 2x2 max-pool
remembers *where* every maximum came from (``return_indices``). The decoder
mirrors the encoder and upsamples with ``MaxUnpool2d`` using those indices:
each value goes back to the exact position of the maximum it came from and
the other three positions of the window are zero. The sparse map is then
densified by trainable convolutions. Unlike U-Net no feature maps are kept
for the decoder, only the indices (2 bits per window), and unlike FCN the
upsampling has no parameters.
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.models.layers import ConvNormAct
from dltrain.models.segmentation.backbones import freeze, vgg_features


class SegNet(nn.Module):
    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        backbone: str = "vgg16",
        width_multiplier: float = 1.0,
        pretrained: bool = False,
        freeze_backbone: bool = False,
    ) -> None:
        super().__init__()
        features = vgg_features(backbone, in_channels, width_multiplier, batch_norm=True, pretrained=pretrained)
        if freeze_backbone:
            freeze(features)
        # cut VGG into its five stages; each ends with a pool that now also returns indices
        self.encoder = nn.ModuleList()
        stage: list[nn.Module] = []
        stage_widths: list[list[int]] = [[]]
        for module in features:
            if isinstance(module, nn.MaxPool2d):
                self.encoder.append(nn.Sequential(*stage))
                stage = []
                stage_widths.append([])
                continue
            stage.append(module)
            if isinstance(module, nn.Conv2d):
                stage_widths[-1].append(module.out_channels)
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        # the decoder mirrors each stage: same number of convs, widths in reverse, ending at
        # the width that entered the stage (the first stage ends with features, not the image)
        self.decoder = nn.ModuleList()
        inputs = [stage_widths[0][0]] + [w[-1] for w in stage_widths[:-2]]
        for widths, stage_in in zip(reversed(stage_widths[:-1]), reversed(inputs)):
            outs = list(reversed(widths))[1:] + [stage_in]
            ins = list(reversed(widths))
            self.decoder.append(nn.Sequential(*(ConvNormAct(i, o, 3) for i, o in zip(ins, outs))))
        self.classifier = nn.Conv2d(stage_widths[0][0], num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        indices, sizes = [], []
        for stage in self.encoder:
            x = stage(x)
            sizes.append(x.shape)
            x, index = self.pool(x)
            indices.append(index)
        for stage in self.decoder:
            x = self.unpool(x, indices.pop(), output_size=sizes.pop())
            x = stage(x)
        return self.classifier(x)
