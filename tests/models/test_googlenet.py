from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.models import transfer
from dltrain.models.classification import googlenet

from .helpers import assert_matches_torchvision, assert_parameter_count_close, num_parameters


@pytest.mark.parametrize("aux_logits", [True, False])
def test_parameter_count_matches_torchvision(aux_logits: bool) -> None:
    with torch.device("meta"):  # counting needs shapes only
        ours = googlenet.googlenet(num_classes=1000, in_channels=3, image_size=224, aux_logits=aux_logits)
        theirs = torchvision.models.googlenet(weights=None, aux_logits=aux_logits, init_weights=True)
    # 13,004,888 with the auxiliary heads, 6,624,904 without
    assert_parameter_count_close(ours, num_parameters(theirs))


def test_matches_torchvision() -> None:
    theirs = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True).eval()
    with torch.device("meta"):  # every tensor comes from torchvision below
        ours = googlenet.googlenet(num_classes=1000, in_channels=3, image_size=224)
    # the paper stem (7x7/2 conv and two max-pools) at 64 px
    assert_matches_torchvision(ours, theirs, assign=True)


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward(image_size: int, in_channels: int) -> None:
    model = googlenet.googlenet(num_classes=10, in_channels=in_channels, image_size=image_size)
    output = model(torch.randn(2, in_channels, image_size, image_size))
    logits = output["logits"]
    assert logits.shape == (2, 10)
    assert all(torch.isfinite(t).all() for t in [logits, *output["aux"]])
    (logits.sum() + sum(aux.sum() for aux in output["aux"])).backward()
    first_conv = model.conv1[0]
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0


def test_auxiliary_heads_only_in_training() -> None:
    model = googlenet.googlenet(num_classes=10, in_channels=3, image_size=224)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        output = model.train()(x)
        assert set(output) == {"logits", "aux", "aux_weight"}
        assert output["logits"].shape == (2, 10)
        assert [aux.shape for aux in output["aux"]] == [(2, 10), (2, 10)]
        assert output["aux_weight"] == 0.3
        logits = model.eval()(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 10)


def test_without_auxiliary_heads() -> None:
    model = googlenet.googlenet(num_classes=10, in_channels=1, image_size=8, aux_logits=False)
    assert not hasattr(model, "aux1") and model.head_names == ("head",)
    output = model.train()(torch.randn(2, 1, 8, 8))
    assert isinstance(output, torch.Tensor) and output.shape == (2, 10)


def test_freeze_backbone_trains_all_heads() -> None:
    model = googlenet.googlenet(num_classes=10, image_size=8, freeze_backbone=True)
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head", "aux1", "aux2"}


def test_pretrained_without_aux_heads(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision's weight file includes the aux heads: load with them, then drop them."""
    theirs = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)

    def load_offline(model: torch.nn.Module, name: str) -> torch.nn.Module:
        assert name == "googlenet"
        mapped, _ = transfer.map_state_dict_by_position(theirs.state_dict(), model)
        model.load_state_dict(mapped)
        return model

    monkeypatch.setattr(transfer, "load_torchvision_weights", load_offline)
    model = googlenet.googlenet(
        num_classes=10, image_size=224, pretrained=True, aux_logits=False, freeze_backbone=True
    )
    assert not hasattr(model, "aux1") and not hasattr(model, "aux2")
    torch.testing.assert_close(model.inception5b.branch1[0].weight, theirs.inception5b.branch1.conv.weight)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}


def test_pretrained_weights_take_googles_input_range_like_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision switches transform_input on with its weights: the same input gives the same logits."""
    theirs = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True, transform_input=True)

    def load_offline(model: torch.nn.Module, name: str) -> torch.nn.Module:
        mapped, _ = transfer.map_state_dict_by_position(
            torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False).state_dict(), model)
        model.load_state_dict(mapped)
        return model

    monkeypatch.setattr(transfer, "load_torchvision_weights", load_offline)
    ours = googlenet.googlenet(num_classes=1000, image_size=224, pretrained=True, aux_logits=False)
    assert ours.transform_input
    mapped, skipped = transfer.map_state_dict_by_position(theirs.state_dict(), ours)
    assert skipped == []
    ours.load_state_dict(mapped)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs.eval()(x), atol=1e-5, rtol=1e-5)
