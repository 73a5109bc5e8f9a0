from __future__ import annotations

import pytest
import torch

from dltrain.errors import UserError
from dltrain.models.classification import nin

from .helpers import assert_trains_on_small_input, num_parameters

# torchvision has no NiN. Hand count of d2l's NiN for ImageNet (d2l 8.3) at 224x224x3, 1000 classes;
# a NiN block is conv(k x k) + two 1x1 convs, all with bias.


def nin_block_parameters(c_in: int, c_out: int, k: int) -> int:
    return (c_in * k * k * c_out + c_out) + 2 * (c_out * c_out + c_out)


NIN_IMAGENET_PARAMETERS = (
    nin_block_parameters(3, 96, 11)  # 53,568
    + nin_block_parameters(96, 256, 5)  # 746,240
    + nin_block_parameters(256, 384, 3)  # 1,180,800
    + nin_block_parameters(384, 1000, 3)  # 5,459,000
)


def test_parameter_count_matches_hand_calculation() -> None:
    assert NIN_IMAGENET_PARAMETERS == 7_439_608
    with torch.device("meta"):  # counting needs shapes only
        model = nin.nin(num_classes=1000, in_channels=3, image_size=224)
    assert num_parameters(model) == NIN_IMAGENET_PARAMETERS


def test_has_no_fully_connected_layer() -> None:
    model = nin.nin(num_classes=10, image_size=32)
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3), (67, 3), (224, 3)])
def test_forward_backward(image_size: int, in_channels: int) -> None:
    model = nin.nin(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.features[0][0])


def test_paper_stem_from_67_px() -> None:
    assert nin.nin(image_size=66).features[0][0].kernel_size == (3, 3)
    assert nin.nin(image_size=67).features[0][0].kernel_size == (11, 11)


def test_freeze_backbone_leaves_only_the_head_trainable() -> None:
    model = nin.nin(num_classes=10, image_size=32, freeze_backbone=True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith("head.") for name in trainable)
    assert not any(p.requires_grad for p in model.features.parameters())


def test_has_no_pretrained_weights() -> None:
    with pytest.raises(UserError, match="no torchvision weights"):
        nin.nin(pretrained=True)
