"""``model.init_from=PATH``: start part of a model (an encoder) from a pre-training run's checkpoint.

A model that supports it names the part as ``pretrained_part`` (``dltrain.models.transfer.PretrainedPart``);
the run builder calls ``load_pretrained_part`` after building it, so model constructors never read files.
Only weights are read (``weights_only``), never the checkpoint's config.
"""
from __future__ import annotations

from pathlib import Path

from torch import nn

from dltrain.checkpoint import files
from dltrain.errors import UserError


def load_pretrained_part(model: nn.Module, path: str | Path) -> nn.Module:
    """``model`` with its ``pretrained_part`` loaded from the checkpoint at ``path``."""
    part = getattr(type(model), "pretrained_part", None)
    if part is None:
        raise UserError(f"{type(model).__name__} has no part to start from another run's checkpoint, so "
                        "model.init_from does not apply to it; leave model.init_from out, or resume a run of this "
                        "model with ckpt_path=PATH.")
    prefix = f"{part.name}."
    weights = files.load(path)["model"]
    found = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    if not found:
        raise UserError(f"{path} holds no {part.what} weights ({prefix}*); pass model.init_from= a checkpoint of "
                        f"{part.source}.")
    try:
        model.get_submodule(part.name).load_state_dict(found)
    except RuntimeError as error:
        raise UserError(f"The {part.what} in {path} does not fit this model "
                        f"({str(error).strip().splitlines()[-1].strip()}); use the {part.must_match} of the "
                        "pre-training run.") from None
    return model
