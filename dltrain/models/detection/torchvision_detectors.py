"""torchvision's detectors, configured from YAML: Faster R-CNN, Mask R-CNN, RetinaNet and SSD.

The detectors themselves are torchvision's (``torchvision.models.detection``):
production code, not rewritten here. This file only chooses their parts:

* **Backbone** — an ImageNet classifier's feature stages: ``resnet18`` (small,
  for CPU runs), ``resnet34``, ``resnet50`` (the papers' choice) or
  ``mobilenet_v3_large``; ``pretrained_backbone`` loads torchvision's ImageNet
  weights and then only the last ``trainable_backbone_layers`` stages train.
* **Feature pyramid** (FPN, Lin et al., 2017) — top-down pathway with lateral
  1x1 connections, ``fpn_channels`` wide (torchvision fixes 256; smaller is
  much cheaper on a CPU).
* **Anchors** — torchvision's defaults are tuned for 800-pixel images (32 to
  512 px); here they scale with ``image_size`` (``size = image_size / 25 * 2^i``),
  so the same config fits 64-pixel shapes and 800-pixel COCO. Objects that
  are large in the image but the image itself tiny break that: at 64 px the
  stride-32 map is 2x2, the scaled anchors are a third of a stride wide and
  hardly any object overlaps one by IoU 0.5. ``anchor_sizes`` then sets one
  base size per pyramid level (torchvision ties them to the stride: 4x at
  800 px; the shapes recipes use 1.5-2x the stride, matching 10-25 px objects).
* **Classes** — ``num_classes`` is the number of object classes in the data;
  every torchvision detector reserves index 0 for background, so the heads get
  ``num_classes + 1`` outputs (labels are ``1..num_classes``).
* **Image size** — torchvision resizes inputs so the short side is ``min_size``;
  the data is already resized to ``image_size``, so ``min_size = max_size =
  image_size`` makes that resize a no-op instead of an upsampling to 800.

Any further keyword (``box_batch_size_per_image``, ``rpn_post_nms_top_n_train``,
``detections_per_img``...) goes to the torchvision class unchanged.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.detection import FasterRCNN, MaskRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator, DefaultBoxGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.models.detection.ssd import SSD
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

from dltrain.errors import UserError
from dltrain.models.transfer import load_torchvision_weights

BACKBONES = ("resnet18", "resnet34", "resnet50", "mobilenet_v3_large")
ANCHOR_FRACTIONS = (0.04, 0.08, 0.16, 0.32, 0.64)  # torchvision's 32..512 px anchors for 800-px images


def backbone_stages(name: str, pretrained: bool, trainable_layers: int, stride8: bool = False
                    ) -> tuple[nn.Module, dict[str, str], list[int]]:
    """(feature extractor, {layer: output name}, channels of each output) of an ImageNet classifier.

    ResNets return ``layer1..layer4`` (strides 4..32; ``stride8`` starts at
    ``layer2``, as RetinaNet and SSD do). MobileNetV3 returns its last two
    stages (stride 32), as torchvision's MobileNet detectors do. When
    pretrained, only the last ``trainable_layers`` of the five stages train.
    """
    if name not in BACKBONES:
        raise UserError(f"model.backbone={name} is not supported; use one of {', '.join(BACKBONES)}.")
    classifier = getattr(torchvision.models, name)(weights=None)
    if pretrained:
        load_torchvision_weights(classifier, name)
    if name.startswith("resnet"):
        layers = [2, 3, 4] if stride8 else [1, 2, 3, 4]
        return_layers = {f"layer{k}": str(i) for i, k in enumerate(layers)}
        # layer k has inplanes/8 * 2^(k-1) channels (64..512 for resnet18, 256..2048 for resnet50)
        channels = [classifier.inplanes // 8 * 2 ** (k - 1) for k in layers]
        stages, body = ["conv1", "layer1", "layer2", "layer3", "layer4"], classifier
        if pretrained:
            train = tuple(stages[5 - trainable_layers:]) + (("bn1",) if trainable_layers == 5 else ())
            for parameter_name, parameter in body.named_parameters():
                parameter.requires_grad_(parameter_name.startswith(train))
        return body, return_layers, channels
    body = classifier.features
    # a stage starts where a block halves the resolution (torchvision marks those blocks _is_cn)
    starts = [0] + [i for i, block in enumerate(body) if getattr(block, "_is_cn", False)] + [len(body) - 1]
    returned = [starts[-2], starts[-1]]
    if pretrained:
        first_trained = len(body) if trainable_layers == 0 else starts[len(starts) - trainable_layers]
        for block in body[:first_trained]:
            block.requires_grad_(False)
    return body, {str(i): str(n) for n, i in enumerate(returned)}, [body[i].out_channels for i in returned]


def fpn_backbone(name: str, pretrained: bool, trainable_layers: int, fpn_channels: int,
                 retinanet_levels: bool = False) -> BackboneWithFPN:
    """Backbone + FPN. Faster / Mask R-CNN: P2-P5 plus a max-pooled P6; RetinaNet: P3-P5 plus P6, P7."""
    body, return_layers, channels = backbone_stages(name, pretrained, trainable_layers, stride8=retinanet_levels)
    extra = LastLevelP6P7(fpn_channels, fpn_channels) if retinanet_levels else LastLevelMaxPool()
    return BackboneWithFPN(body, return_layers, channels, fpn_channels, extra_blocks=extra)


def scaled_anchor_sizes(image_size: int, num_levels: int, scales_per_octave: int = 1) -> tuple[tuple[int, ...], ...]:
    """Anchor sizes per pyramid level, proportional to the image (one octave per level).

    With fewer levels than octaves (MobileNet's two stride-32 maps), every
    level gets every size, as torchvision's MobileNet detectors do.
    """
    octaves = [image_size * f for f in ANCHOR_FRACTIONS]
    # RetinaNet: 3 scales per octave, 2^0, 2^(1/3), 2^(2/3)
    sizes = [tuple(max(1, round(s * 2 ** (j / scales_per_octave))) for j in range(scales_per_octave)) for s in octaves]
    if num_levels == len(sizes):
        return tuple(sizes)
    every = tuple(sorted({size for level in sizes for size in level}))
    return (every,) * num_levels


def _num_levels(backbone: nn.Module, image_size: int) -> int:
    with torch.no_grad():
        return len(backbone(torch.zeros(1, 3, image_size, image_size)))


def explicit_anchor_sizes(base_sizes: Sequence[float], num_levels: int, scales_per_octave: int = 1
                          ) -> tuple[tuple[int, ...], ...]:
    """Anchor sizes from one base size per pyramid level (``model.anchor_sizes``), octave scales added."""
    if len(base_sizes) != num_levels:
        raise UserError(f"model.anchor_sizes has {len(base_sizes)} sizes but the detector has {num_levels} "
                        f"feature levels; give one base size (pixels) per level, smallest first, or "
                        f"model.anchor_sizes=null for sizes proportional to the image.")
    return tuple(tuple(max(1, round(float(b) * 2 ** (j / scales_per_octave))) for j in range(scales_per_octave))
                 for b in base_sizes)


def _anchor_generator(backbone: nn.Module, image_size: int, scales_per_octave: int = 1,
                      anchor_sizes: Sequence[float] | None = None) -> AnchorGenerator:
    levels = _num_levels(backbone, image_size)
    if anchor_sizes is None:
        sizes = scaled_anchor_sizes(image_size, levels, scales_per_octave)
    else:
        sizes = explicit_anchor_sizes(anchor_sizes, levels, scales_per_octave)
    return AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))


def faster_rcnn(num_classes: int, image_size: int, backbone: str = "resnet50", pretrained_backbone: bool = False,
                trainable_backbone_layers: int = 3, fpn_channels: int = 256, representation_size: int = 1024,
                anchor_sizes: Sequence[float] | None = None, **options: Any) -> FasterRCNN:
    """Faster R-CNN (Ren et al., 2015) with an FPN: region proposals, then RoIAlign + a two-layer MLP head."""
    features = fpn_backbone(backbone, pretrained_backbone, trainable_backbone_layers, fpn_channels)
    return FasterRCNN(
        features, num_classes=None, min_size=image_size, max_size=image_size,
        rpn_anchor_generator=_anchor_generator(features, image_size, anchor_sizes=anchor_sizes),
        box_head=TwoMLPHead(fpn_channels * 7 * 7, representation_size),  # RoIAlign gives 7x7 per proposal
        box_predictor=FastRCNNPredictor(representation_size, num_classes + 1), **options,
    )


def mask_rcnn(num_classes: int, image_size: int, backbone: str = "resnet50", pretrained_backbone: bool = False,
              trainable_backbone_layers: int = 3, fpn_channels: int = 256, representation_size: int = 1024,
              anchor_sizes: Sequence[float] | None = None, **options: Any) -> MaskRCNN:
    """Mask R-CNN (He et al., 2017): Faster R-CNN plus a small FCN predicting a 28x28 mask per detected box."""
    features = fpn_backbone(backbone, pretrained_backbone, trainable_backbone_layers, fpn_channels)
    return MaskRCNN(
        features, num_classes=None, min_size=image_size, max_size=image_size,
        rpn_anchor_generator=_anchor_generator(features, image_size, anchor_sizes=anchor_sizes),
        box_head=TwoMLPHead(fpn_channels * 7 * 7, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes + 1),
        mask_head=MaskRCNNHeads(fpn_channels, [fpn_channels] * 4, dilation=1),
        mask_predictor=MaskRCNNPredictor(fpn_channels, fpn_channels, num_classes + 1), **options,
    )


def retinanet(num_classes: int, image_size: int, backbone: str = "resnet50", pretrained_backbone: bool = False,
              trainable_backbone_layers: int = 3, fpn_channels: int = 256,
              anchor_sizes: Sequence[float] | None = None, head_group_norm: bool = False,
              **options: Any) -> RetinaNet:
    """RetinaNet (Lin et al., 2017): one-stage, dense anchors on P3-P7, focal loss against the easy negatives.

    ``head_group_norm`` puts GroupNorm after every head convolution, as torchvision's
    RetinaNet v2 does: the paper's plain head trains slowly from scratch.
    """
    features = fpn_backbone(backbone, pretrained_backbone, trainable_backbone_layers, fpn_channels,
                            retinanet_levels=True)
    anchors = _anchor_generator(features, image_size, scales_per_octave=3, anchor_sizes=anchor_sizes)
    # torchvision's RetinaNet indexes its one-hot targets by label, so column 0 (background) stays unused
    norm = partial(nn.GroupNorm, math.gcd(32, fpn_channels)) if head_group_norm else None
    head = RetinaNetHead(fpn_channels, anchors.num_anchors_per_location()[0], num_classes + 1, norm_layer=norm)
    return RetinaNet(features, num_classes + 1, min_size=image_size, max_size=image_size,
                     anchor_generator=anchors, head=head, **options)


class SSDFeatures(nn.Module):
    """SSD's multi-scale feature maps: the backbone's stride-8..32 maps, then extra stride-2 blocks.

    Each extra block is SSD's 1x1 channel reduction followed by a 3x3 stride-2
    convolution, so the coarsest maps see (and predict) the largest objects.
    """

    def __init__(self, name: str, pretrained: bool, trainable_layers: int, extra_channels: int,
                 num_extra: int = 2) -> None:
        super().__init__()
        body, return_layers, channels = backbone_stages(name, pretrained, trainable_layers, stride8=True)
        self.body = IntermediateLayerGetter(body, return_layers)
        blocks, width = [], channels[-1]
        for _ in range(num_extra):
            blocks.append(nn.Sequential(
                nn.Conv2d(width, extra_channels // 2, 1), nn.ReLU(inplace=True),
                nn.Conv2d(extra_channels // 2, extra_channels, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            ))
            width = extra_channels
        self.extra = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        features = list(self.body(x).values())
        for block in self.extra:
            features.append(block(features[-1]))
        return OrderedDict((str(i), f) for i, f in enumerate(features))


def ssd(num_classes: int, image_size: int, backbone: str = "resnet50", pretrained_backbone: bool = False,
        trainable_backbone_layers: int = 3, extra_channels: int = 256, **options: Any) -> SSD:
    """SSD (Liu et al., 2016): default boxes on several feature maps, hard-negative mining 3:1.

    Default-box scales go linearly from 15% to 90% of the image over the maps
    (``DefaultBoxGenerator``), so they fit any ``image_size``.
    """
    features = SSDFeatures(backbone, pretrained_backbone, trainable_backbone_layers, extra_channels)
    levels = _num_levels(features, image_size)
    anchors = DefaultBoxGenerator([[2, 3]] * levels)  # aspect ratios 1, 2, 1/2, 3, 1/3 on every map
    return SSD(features, anchors, (image_size, image_size), num_classes + 1, **options)
