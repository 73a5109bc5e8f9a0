"""Every classification model config composes with the data configs and trains one step.

The model files' own tests check paper shapes and torchvision equivalence;
this file checks what a user types: `dltrain model=<name> data=<name>`.
"""
from __future__ import annotations

import pytest
import torch
from helpers import load_script
from hydra.utils import instantiate
from omegaconf import OmegaConf

from dltrain import api
from dltrain.models.transfer import head_parameter_names

CLASSIFIERS = load_script("classifier_table").classifier_names()


def build(name: str, data: str, **extra):
    cfg = api.compose([f"model={name}", f"data={data}"] + [f"model.{k}={v}" for k, v in extra.items()])
    return instantiate(cfg.model), cfg.data


def test_the_notes_classifiers_are_all_there():
    expected = {"mlp", "lenet", "alexnet", "vgg11", "vgg16_bn", "nin", "googlenet", "inception_v3", "resnet18",
                "resnet50", "resnext50_32x4d", "densenet121", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small",
                "mobilenet_v3_large", "shufflenet_v2", "squeezenet1_1", "se_resnet50", "efficientnet_b0", "stn",
                "spp_net", "vit", "vit_tiny", "vit_small", "vit_base", "swin_t"}
    assert expected <= set(CLASSIFIERS)


@pytest.mark.parametrize("data", ["digits", "mnist", "cifar10"])
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_model_config_composes_and_takes_one_training_step(name, data):
    if data != "digits" and name in ("vgg16_bn", "vgg19", "vgg19_bn", "resnet101", "resnet152", "vit_base"):
        pytest.skip("the biggest variants are checked on digits only, to keep the fast suite fast")
    model, facts = build(name, data)
    x = torch.randn(2, facts.in_channels, facts.image_size, facts.image_size)
    model.train()
    out = model(x)
    logits = out["logits"] if isinstance(out, dict) else out
    assert logits.shape == (2, facts.num_classes)
    logits.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", [n for n in CLASSIFIERS if n != "mlp"])
def test_freeze_backbone_leaves_only_the_head_trainable(name):
    model, facts = build(name, "digits", freeze_backbone="true")
    heads = head_parameter_names(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == heads and heads
    out = model(torch.randn(2, facts.in_channels, facts.image_size, facts.image_size))
    (out["logits"] if isinstance(out, dict) else out).sum().backward()
    assert all(p.grad is None for n, p in model.named_parameters() if n not in heads)


def test_pretrained_weights_offline_fail_in_one_sentence(cli, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(cli.root / "torch"))  # an empty cache: the download is tried, and fails
    result = cli("model=resnet18", "model.pretrained=true", "trainer=debug", ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Could not download torchvision's pretrained weights for 'resnet18'" in result.stderr


def test_unknown_model_lists_the_models(cli):
    result = cli("model=resnet17", ok=False)
    assert "Did you mean model=resnet18?" in result.stderr and "swin_t" in result.stderr


def test_stn_wraps_another_backbone_from_the_command_line():
    cfg = api.compose(["model=stn", "model.backbone._target_=dltrain.models.classification.mlp.mlp"])
    model = instantiate(cfg.model)
    assert type(model.backbone).__name__ == "MLP"
    assert OmegaConf.select(cfg, "model.backbone.num_classes") == 10
