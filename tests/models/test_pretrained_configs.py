"""`model=X model.pretrained=true` builds exactly the network torchvision's weights were trained with.

Weights cannot be downloaded here, so torchvision's weight download is replaced by the state dict of a randomly
initialised torchvision model, built as torchvision's own builder builds it when it is given weights; the
model config then goes through the real pretrained path (``dltrain/models/transfer.py``: the weights are
mapped by position), and both networks must give the same outputs. A config option that changes the
computation but not the weights' shapes (AlexNet's LRN) would load every tensor and still differ.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torchvision
from hydra.utils import instantiate

from dltrain import api
from dltrain.errors import UserError

from .test_every_classifier_config import CLASSIFIERS

# What torchvision's builders set when given weights (torchvision/models/googlenet.py and inception.py:
# `_ovewrite_named_param(kwargs, "transform_input", True)` ...); every other builder only sets num_classes.
BUILT_WITH_WEIGHTS = {
    "googlenet": {"transform_input": True, "aux_logits": True, "init_weights": False},
    "inception_v3": {"transform_input": True, "aux_logits": True, "init_weights": False},
}
# the least input each family takes (ViT's position embeddings fix its size; Inception needs >= 75 px)
INPUT_SIZE = {"vit_b_16": 224, "swin_t": 224, "inception_v3": 96}
# the biggest networks (100M+ parameters, or 150+ layers): built twice, they take seconds each
SLOW = {"vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "resnet101", "resnet152",
        "vit_base"}


class OfflineWeights:
    """Stands in for torchvision's ``get_model_weights(name)``: ``DEFAULT.get_state_dict()`` returns the state of a
    random torchvision model of that name, built with weights' settings, and keeps that model for comparison."""

    def __init__(self) -> None:
        self.models: dict[str, torch.nn.Module] = {}

    def __call__(self, name: str) -> SimpleNamespace:
        def get_state_dict(progress: bool = True, **_: object) -> dict[str, torch.Tensor]:
            torch.manual_seed(0)
            model = torchvision.models.get_model(name, weights=None, **BUILT_WITH_WEIGHTS.get(name, {}))
            self.models[name] = model.eval()
            return model.state_dict()

        return SimpleNamespace(DEFAULT=SimpleNamespace(get_state_dict=get_state_dict))


def build_pretrained(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[torch.nn.Module, OfflineWeights]:
    """``model=NAME model.pretrained=true`` for ImageNet's facts (1000 classes, 224 px RGB; no data is built)."""
    weights = OfflineWeights()
    monkeypatch.setattr(torchvision.models, "get_model_weights", weights)
    cfg = api.compose([f"model={name}", "model.pretrained=true", "data=cifar10", "data.num_classes=1000",
                       "data.image_size=224", "data.native_size=224"])
    return instantiate(cfg.model).eval(), weights


def check_pretrained_config(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        ours, weights = build_pretrained(name, monkeypatch)
    except Exception as error:  # Hydra wraps what the factory raises
        cause = error.__cause__ or error
        assert isinstance(cause, UserError) and "weights" in str(cause), error  # e.g. "has no torchvision weights"
        pytest.skip(f"model={name} has no torchvision weights: model.pretrained=true is one sentence")
    (torchvision_name, theirs), = weights.models.items()
    size = INPUT_SIZE.get(torchvision_name, 64)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, actual = theirs(x), ours(x)
    actual = actual["logits"] if isinstance(actual, dict) else actual
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4,
                               msg=lambda m: f"model={name} model.pretrained=true differs from torchvision's "
                                             f"{torchvision_name} with the same weights: {m}")


@pytest.mark.parametrize("name", [n for n in CLASSIFIERS if n not in SLOW])
def test_pretrained_config_computes_what_torchvision_computes(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check_pretrained_config(name, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_big_pretrained_config_computes_what_torchvision_computes(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check_pretrained_config(name, monkeypatch)


def test_alexnet_with_lrn_and_pretrained_weights_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision's AlexNet was trained without LRN: asking for both is a mistake, not a silent mismatch."""
    monkeypatch.setattr(torchvision.models, "get_model_weights", OfflineWeights())
    cfg = api.compose(["model=alexnet", "model.pretrained=true", "model.use_lrn=true"])
    with pytest.raises(Exception) as raised:  # Hydra wraps what the factory raises; the CLI prints the cause
        instantiate(cfg.model)
    cause = raised.value.__cause__ or raised.value
    assert isinstance(cause, UserError) and "use_lrn" in str(cause)
