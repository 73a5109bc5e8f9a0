"""The facts a data module found out, written into the config before the model is built.

A data config states the facts a model needs (``num_classes``, ``in_channels``...); for a user's own data
they are not known until the files are read, so such a config leaves them ``null`` and its module states
them after ``setup()`` (``DataModule.facts()``). ``state_data_facts`` writes them into ``cfg.data``:

* model configs read them by interpolation (``num_classes: ${data.num_classes}``), exactly as for a
  shipped data set;
* the config stored in every checkpoint is ``cfg`` resolved, so it keeps them: ``mode=eval`` and
  ``mode=predict`` rebuild the data module with the same class names, sizes and standardisation numbers
  instead of finding them again;
* a fact the model needs and the data did not state (an MLP's ``num_classes`` on a regression target) is
  said here in one sentence, before a constructor fails on ``None``.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from dltrain.errors import UserError

# a model or task key that is exactly one data fact: `${data.num_classes}` (oc.select reads are optional)
_DATA_FACT = re.compile(r"^\$\{data\.([A-Za-z_][\w.]*)\}$")


def state_data_facts(cfg: DictConfig, data: Any) -> None:
    """Write ``data.facts()`` into ``cfg.data`` and check that every fact the model reads is now known."""
    facts = data.facts() if hasattr(data, "facts") else {}
    with open_dict(cfg):
        for key, value in facts.items():
            OmegaConf.update(cfg, f"data.{key}", _plain(value), force_add=True)
    _check_model_facts_known(cfg)


def _plain(value: Any) -> Any:
    """NumPy / torch scalars and arrays as the plain numbers and lists a config holds."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_model_facts_known(cfg: DictConfig) -> None:
    for group in ("model", "task"):
        node = cfg.get(group)
        if not isinstance(node, DictConfig):
            continue
        for key, raw in _interpolations(node):
            match = _DATA_FACT.match(raw)
            if match is None:
                continue
            fact = match.group(1)
            if OmegaConf.select(cfg.data, fact, throw_on_missing=False) is None:  # null, ??? or absent
                model, data = _named(cfg, "model"), _named(cfg, "data")
                raise UserError(
                    f"{model} needs data.{fact}, which {data} did not find in this data "
                    f"({_describe(cfg.data)}); pick a model that reads what the data states (dltrain --help "
                    f"own_data, 'Facts'), or set data.{fact}=VALUE on the command line."
                )


def _interpolations(node: DictConfig) -> list[tuple[str, str]]:
    """(key, text) of the node's values that are interpolations, at any depth (raw, not resolved)."""
    found = []
    for key in node:
        if OmegaConf.is_interpolation(node, key):
            found.append((str(key), node._get_node(key)._value()))
        elif isinstance(node._get_node(key), DictConfig):
            found += _interpolations(node[key])
    return found


def _describe(data: DictConfig) -> str:
    kind = data.get("task")
    return f"its target makes it a {kind} set" if kind else "the files do not state it"


def _named(cfg: DictConfig, group: str) -> str:
    """``model=mlp`` as the command line picked it, or ``the model (mlp)`` outside a Hydra run (the Python API)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get(group)
        if choice:
            return f"{group}={choice}"
    return f"the {group} ({str(OmegaConf.select(cfg, f'{group}._target_', default='?')).rpartition('.')[2]})"
