from __future__ import annotations

import pytest
import torch

from dltrain.errors import UserError
from dltrain.models.classification import lenet

from .helpers import assert_trains_on_small_input, num_parameters

# torchvision has no LeNet. Hand count of the classic LeNet-5 at 32x32x1, 10 classes
# (the paper's ~60k; d2l gets the same from 28x28 MNIST by padding C1):
#   C1  1 -> 6, 5x5:    6 * (1 * 25) + 6    =    156
#   C3  6 -> 16, 5x5:  16 * (6 * 25) + 16   =  2,416
#   C5  16*5*5 -> 120: 400 * 120 + 120      = 48,120
#   F6  120 -> 84:     120 * 84 + 84        = 10,164
#   out 84 -> 10:      84 * 10 + 10         =    850
#   total                                   = 61,706
LENET5_PARAMETERS = 61_706


@pytest.mark.parametrize("image_size", [32, 28])
def test_parameter_count_is_classic_lenet5(image_size: int) -> None:
    model = lenet.lenet(num_classes=10, in_channels=1, image_size=image_size)
    assert num_parameters(model) == LENET5_PARAMETERS


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3), (224, 3)])
def test_forward_backward(image_size: int, in_channels: int, activation: str) -> None:
    model = lenet.lenet(num_classes=10, in_channels=in_channels, image_size=image_size, activation=activation)
    assert_trains_on_small_input(model, image_size, in_channels, model.features[0])


def test_activation_switch() -> None:
    assert isinstance(lenet.lenet(activation="sigmoid").features[1], torch.nn.Sigmoid)
    with pytest.raises(UserError, match="activation"):
        lenet.lenet(activation="tanh")


def test_freeze_backbone_leaves_only_the_head_trainable() -> None:
    model = lenet.lenet(num_classes=10, image_size=28, freeze_backbone=True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}


def test_has_no_pretrained_weights() -> None:
    with pytest.raises(UserError, match="no torchvision weights"):
        lenet.lenet(pretrained=True)
