from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.models.classification import inception_v3
from dltrain.models.layers import imagenet_to_google_input

from .helpers import assert_matches_torchvision, assert_parameter_count_close, num_parameters


def test_parameter_count_matches_torchvision() -> None:
    with torch.device("meta"):  # counting needs shapes only
        ours = inception_v3.inception_v3(num_classes=1000, in_channels=3, image_size=299)
        theirs = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True)
    assert_parameter_count_close(ours, num_parameters(theirs))  # 27,161,264 with the auxiliary head


def test_matches_torchvision() -> None:
    theirs = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True).eval()
    with torch.device("meta"):  # every tensor comes from torchvision below
        ours = inception_v3.inception_v3(num_classes=1000, in_channels=3, image_size=299)
    # 75 px: the least the paper stem and both grid reductions take
    assert_matches_torchvision(ours, theirs, (1, 3, 75, 75), assign=True)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward(image_size: int, in_channels: int) -> None:
    model = inception_v3.inception_v3(num_classes=10, in_channels=in_channels, image_size=image_size)
    output = model(torch.randn(2, in_channels, image_size, image_size))
    logits, (aux,) = output["logits"], output["aux"]
    assert logits.shape == aux.shape == (2, 10)
    assert torch.isfinite(logits).all() and torch.isfinite(aux).all()
    (logits.sum() + aux.sum()).backward()
    first_conv = model.Conv2d_1a_3x3[0]
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0


def test_small_stem_does_not_downsample() -> None:
    model = inception_v3.inception_v3(num_classes=10, in_channels=1, image_size=8).eval()
    with torch.no_grad():
        x = model.Conv2d_2b_3x3(model.Conv2d_2a_3x3(model.Conv2d_1a_3x3(torch.randn(1, 1, 8, 8))))
        x = model.maxpool2(model.Conv2d_4a_3x3(model.Conv2d_3b_1x1(model.maxpool1(x))))
    assert x.shape == (1, 192, 8, 8)


def test_auxiliary_outputs_only_in_training() -> None:
    model = inception_v3.inception_v3(num_classes=10, in_channels=1, image_size=8)
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        output = model.train()(x)
        assert set(output) == {"logits", "aux", "aux_weight"}
        assert [aux.shape for aux in output["aux"]] == [(2, 10)]
        assert output["aux_weight"] == 0.4
        logits = model.eval()(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 10)


@pytest.mark.parametrize(("image_size", "global_pool"), [(299, False), (224, True), (32, True)])
def test_auxiliary_head_pools_as_the_paper_on_the_17x17_grid(image_size: int, global_pool: bool) -> None:
    with torch.device("meta"):
        model = inception_v3.inception_v3(num_classes=10, image_size=image_size)
    assert model.aux.global_pool == global_pool


@pytest.mark.parametrize(("grid", "global_pool"), [(17, False), (3, True), (1, True)])
def test_auxiliary_head_on_grids(grid: int, global_pool: bool) -> None:
    """The paper's 5x5/3 pool and valid 5x5 conv at 17x17; the padded, global version below."""
    head = inception_v3.InceptionAux(768, num_classes=10, global_pool=global_pool).eval()
    with torch.no_grad():
        assert head(torch.randn(2, 768, grid, grid)).shape == (2, 10)


def test_without_auxiliary_head() -> None:
    model = inception_v3.inception_v3(num_classes=10, in_channels=1, image_size=8, aux_logits=False)
    assert not hasattr(model, "aux") and model.head_names == ("head",)
    output = model.train()(torch.randn(2, 1, 8, 8))
    assert isinstance(output, torch.Tensor) and output.shape == (2, 10)


def test_freeze_backbone_trains_both_heads() -> None:
    model = inception_v3.inception_v3(num_classes=10, image_size=8, freeze_backbone=True)
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head", "aux"}


def test_transform_input_matches_torchvision() -> None:
    """With torchvision's weights both re-normalise ImageNet input to Google's [-1, 1] range.

    Compared on the re-normalised input, then through the model: randomly initialised Inception logits
    reach ~1e5, where comparing two networks would test rounding, not the transform.
    """
    theirs = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False,
                                             transform_input=True)
    x = torch.randn(2, 3, 75, 75)
    torch.testing.assert_close(imagenet_to_google_input(x), theirs._transform_input(x))
    ours = inception_v3.inception_v3(num_classes=10, in_channels=3, image_size=299, aux_logits=False).eval()
    with torch.no_grad():
        expected = ours(imagenet_to_google_input(x))
        ours.transform_input = True  # what loading pretrained weights sets
        torch.testing.assert_close(ours(x), expected)
