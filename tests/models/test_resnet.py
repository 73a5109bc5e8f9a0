from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.errors import UserError
from dltrain.models.classification import resnet
from dltrain.models.layers import SqueezeExcitation

from .helpers import (
    assert_matches_torchvision,
    assert_parameter_count_close,
    assert_trains_on_small_input,
    num_parameters,
)

TORCHVISION_VARIANTS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d"]
ALL_VARIANTS = TORCHVISION_VARIANTS + ["se_resnet50"]

# torchvision has no SE-ResNet. Published figure: 28.09M (Hu et al., SENet, Table 2 / 28.088M),
# exactly 28,088,024 in Cadene's pretrained-models se_resnet50.
SE_RESNET50_PARAMETERS = 28_088_024


@pytest.mark.parametrize("name", TORCHVISION_VARIANTS)
def test_matches_torchvision(name: str) -> None:
    ours = getattr(resnet, name)(num_classes=1000, in_channels=3, image_size=224)
    theirs = getattr(torchvision.models, name)(weights=None)
    assert_parameter_count_close(ours, num_parameters(theirs))
    # 64 px is the smallest input that keeps the paper's 7x7/2 stem and max-pool.
    assert_matches_torchvision(ours, theirs)


def test_se_resnet50_parameter_count() -> None:
    model = resnet.se_resnet50(num_classes=1000, in_channels=3, image_size=224)
    assert_parameter_count_close(model, SE_RESNET50_PARAMETERS)


def test_dilated_backbone_matches_torchvision() -> None:
    """Output stride 8, as DeepLab uses: layer3 and layer4 dilate instead of striding."""
    dilation = (False, True, True)
    ours = resnet.resnet50(replace_stride_with_dilation=dilation)
    theirs = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=list(dilation))
    assert_matches_torchvision(ours, theirs)
    with torch.no_grad():
        assert ours.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 2048, 8, 8)


@pytest.mark.parametrize("name", ALL_VARIANTS)
@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(name: str, image_size: int, in_channels: int) -> None:
    model = getattr(resnet, name)(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.stem[0][0])


def test_stages_give_intermediate_feature_maps() -> None:
    model = resnet.resnet50(num_classes=10, image_size=224).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        features = model.stem(x)
        shapes = []
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
            features = stage(features)
            shapes.append(tuple(features.shape[1:]))
        torch.testing.assert_close(model.forward_features(x), features)
    assert shapes == [(256, 16, 16), (512, 8, 8), (1024, 4, 4), (2048, 2, 2)]
    assert model.stage_channels == (256, 512, 1024, 2048)
    assert model.num_features == model.head.in_features == 2048


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_zero_init_residual_starts_blocks_as_identity(name: str) -> None:
    model = getattr(resnet, name)(num_classes=10, image_size=32, zero_init_residual=True)
    blocks = [m for m in model.modules() if isinstance(m, (resnet.BasicBlock, resnet.Bottleneck))]
    assert blocks and all(torch.all(block.last_norm.weight == 0) for block in blocks)
    block = model.layer1[1]  # identity shortcut: the block computes relu(0 + x), i.e. x for x >= 0
    x = torch.randn(2, model.stage_channels[0], 8, 8).relu()
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)


def test_freeze_backbone_leaves_only_the_head_trainable() -> None:
    model = resnet.resnet18(num_classes=10, image_size=32, freeze_backbone=True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}


def test_se_resnet50_has_no_pretrained_weights() -> None:
    with pytest.raises(UserError, match="no torchvision weights"):
        resnet.se_resnet50(num_classes=10, image_size=32, pretrained=True)


def test_basic_block_rejects_grouped_convolutions() -> None:
    with pytest.raises(ValueError, match="Bottleneck"):
        resnet.ResNet(resnet.BasicBlock, (2, 2, 2, 2), groups=32, width_per_group=4)


def test_basic_blocks_take_squeeze_excitation_and_dilation() -> None:
    """SE-ResNet-18 style blocks, and an output-stride-8 ResNet-18 backbone."""
    model = resnet.ResNet(
        resnet.BasicBlock, (2, 2, 2, 2), image_size=224, se_reduction=16,
        replace_stride_with_dilation=(False, True, True),
    ).eval()
    assert all(isinstance(block.se, SqueezeExcitation) for block in model.layer1)
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 512, 8, 8)
