"""Transfer learning: torchvision weights onto this project's modules, and freezing.

Every architecture here registers its layers in the same order as its
torchvision counterpart, so weights map *by position*: the n-th tensor of
torchvision's ``state_dict`` goes to the n-th tensor of ours. A tensor whose
shape differs (a new classifier head, a small-image stem) keeps its fresh
initialisation and is reported. ``tests/test_transfer.py`` proves the mapping
by comparing outputs with torchvision's model on the same input.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from dltrain.errors import UserError

log = logging.getLogger(__name__)


def map_state_dict_by_position(
    source: Mapping[str, torch.Tensor], target: nn.Module
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Return (state dict for ``target`` filled from ``source``, names left as initialised)."""
    # BatchNorm's num_batches_tracked is missing from older torchvision files; pair the rest
    ours = {k: v for k, v in target.state_dict().items() if not k.endswith("num_batches_tracked")}
    source = {k: v for k, v in source.items() if not k.endswith("num_batches_tracked")}
    if len(source) != len(ours):
        raise ValueError(
            f"{type(target).__name__} has {len(ours)} state tensors but the source has "
            f"{len(source)}; the layer order no longer matches torchvision's."
        )
    mapped: dict[str, torch.Tensor] = {}
    skipped: list[str] = []
    for (our_name, our_tensor), their_tensor in zip(ours.items(), source.values()):
        if our_tensor.shape == their_tensor.shape:
            mapped[our_name] = their_tensor.to(our_tensor.dtype)
        else:
            mapped[our_name] = our_tensor
            skipped.append(our_name)
    return mapped, skipped


def load_torchvision_weights(model: nn.Module, torchvision_name: str) -> nn.Module:
    """Download (or read from the torch hub cache) torchvision's ImageNet weights into ``model``."""
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(torchvision_name).DEFAULT
        source = weights.get_state_dict(progress=False)
    except Exception as error:  # urllib raises many types offline; all mean the same to a user
        cache = torch.hub.get_dir()
        raise UserError(
            f"Could not download torchvision's pretrained weights for '{torchvision_name}' "
            f"({type(error).__name__}); connect to the internet once, or put the weight file "
            f"in {cache}/checkpoints/, or run with model.pretrained=false."
        ) from None
    mapped, skipped = map_state_dict_by_position(source, model)
    model.load_state_dict(mapped, strict=False)  # only num_batches_tracked can be left out
    if skipped:
        log.info("pretrained %s: kept fresh init for %s (shape differs)", torchvision_name, ", ".join(skipped))
    return model


def head_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters that belong to the classifier head(s).

    A model lists its head submodules in ``head_names`` (default: ``("head",)``).
    """
    names: set[str] = set()
    for head in getattr(model, "head_names", ("head",)):
        module = model.get_submodule(head)
        names.update(f"{head}.{n}" for n, _ in module.named_parameters())
    return names


def freeze_backbone(model: nn.Module) -> nn.Module:
    """Freeze everything except the head(s); frozen BatchNorm layers also stop updating statistics."""
    trainable = head_parameter_names(model)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in trainable)
    model.frozen_backbone = True  # the task keeps frozen norm layers in eval mode
    return model


def frozen_norm_layers(model: nn.Module) -> Iterable[nn.Module]:
    """Norm layers whose parameters are all frozen (kept in eval mode while training)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                yield module


def prepare(
    model: nn.Module,
    torchvision_name: str | None,
    pretrained: bool = False,
    freeze: bool = False,
) -> nn.Module:
    """Apply ``model.pretrained`` / ``model.freeze_backbone`` to a freshly built model.

    Every factory function in ``dltrain.models.classification`` ends with this call.
    """
    if pretrained:
        if torchvision_name is None:
            raise UserError(
                f"{type(model).__name__} has no torchvision weights to load; "
                "run with model.pretrained=false, or start from your own checkpoint with ckpt_path=PATH."
            )
        load_torchvision_weights(model, torchvision_name)
    if freeze:
        freeze_backbone(model)
    return model


@dataclass(frozen=True)
class PretrainedPart:
    """The part of a model that ``model.init_from`` fills from a pre-training run's checkpoint.

    A model class names it as ``pretrained_part``: ``PretrainedPart("encoder", ...)`` means the checkpoint's
    ``encoder.*`` weights go into ``model.encoder``. The run builder does the loading
    (``dltrain.checkpoint.fine_tune``); models never read files. ``what``, ``source`` and ``must_match`` word
    its messages: the part, the command that writes such checkpoints, the options that must agree.
    """

    name: str
    what: str
    source: str
    must_match: str
