"""A checkpoint's stored config is data: it may only build what dltrain's own config tree can build.

Checkpoints are shared (``weights.pt``, best.ckpt of someone's run). ``torch.load(weights_only=True)`` keeps
their pickles from running code, but the config stored inside names ``_target_`` callables that ``mode=eval``,
``mode=predict``, the Python API, a resume and a distillation teacher would instantiate. ``rebuild`` is the
one way a stored config becomes a runnable one, and ``check_targets`` refuses, before anything is built, every
``_target_`` that is not

* named by a config file shipped with dltrain (``configs/**.yaml``: dltrain's classes, the torch optimizers and
  losses they name), or one of dltrain's documented tools (``DOCUMENTED``);
* in the config the user composed for this command (their own ``data._target_=pkg.Module`` or a config of
  their ``hydra.searchpath``: the user chose it, not the file);
* trusted on the command line: ``trust_targets=[pkg.module]`` (a module allows everything under it).

What a stored config can still do is choose among those (another dataset, another ``root`` folder): the
same as typing its overrides. docs/reliability.md says this for users.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from dltrain.errors import UserError

# dltrain's tools that a run names with `+key._target_=...` rather than through a config file
DOCUMENTED = {"dltrain.engine.preemption.SignalAtStep"}


@functools.cache
def shipped_targets(config_dir: str) -> frozenset[str]:
    """Every ``_target_`` that a config file of the installed config tree names."""
    found: set[str] = set()
    for path in Path(config_dir).rglob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            found.update(target for _, target in targets_in(document))
    return frozenset(found)


def targets_in(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, target) for every ``_target_`` in a nested dict / list, however deep."""
    if isinstance(node, dict):
        for name, value in node.items():
            where = f"{key}.{name}" if key else str(name)
            if name == "_target_":
                yield key or "<root>", str(value)
            else:
                yield from targets_in(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from targets_in(value, f"{key}[{index}]")


def check_targets(stored: Any, source: str, allowed: Iterable[str], trusted: Sequence[str] = ()) -> None:
    """Raise ``UserError`` for the first ``_target_`` of ``stored`` (a plain dict) that is not allowed."""
    allowed = set(allowed) | DOCUMENTED
    trusted_prefixes = tuple(f"{t.rstrip('.')}." for t in trusted)
    for key, target in targets_in(stored):
        if target in allowed or target in trusted or target.startswith(trusted_prefixes):
            continue
        module = target.rpartition(".")[0] or target
        raise UserError(
            f"{source} names {key}._target_={target}, which no dltrain config uses, and it was refused (a stored "
            f"config is data and does not choose what code runs); if you trust its author, run again with "
            f"trust_targets=[{module}]."
        )


def plain(stored_yaml: str, source: str) -> dict[str, Any]:
    """A stored config as plain data, refusing interpolations (dltrain writes configs resolved)."""
    try:
        stored = yaml.safe_load(stored_yaml)
    except yaml.YAMLError:
        stored = None
    if not isinstance(stored, dict):
        raise UserError(f"{source} holds no readable config; pass a checkpoint written by dltrain.")
    text = yaml.safe_dump(stored)
    if "${" in text:
        raise UserError(f"{source} holds a config with ${{...}} interpolations, which dltrain never writes "
                        "(configs are stored resolved); pass a checkpoint written by dltrain.")
    return stored


def rebuild(stored_yaml: str, source: str, current: DictConfig | None, overrides: Sequence[str],
            config_dir: str) -> DictConfig:
    """The run a checkpoint describes, with the user's command-line overrides on top, checked.

    A group override (``data=mnist``, ``trainer=debug``) replaces that group with what the command composed;
    a key override (``data.batch_size=8``) replaces one value; groups that are not a node of the config
    (``experiment=``, ``hparams_search=``) only chose what the command composed, so they change nothing here.
    """
    stored = plain(stored_yaml, source)
    current = OmegaConf.create() if current is None else current
    trusted = [str(t) for t in (current.get("trust_targets") or [])]
    composed = OmegaConf.to_container(current, resolve=False)
    check_targets(stored, source, shipped_targets(config_dir) | {t for _, t in targets_in(composed)}, trusted)
    cfg = OmegaConf.create(stored)
    OmegaConf.set_struct(cfg, False)
    groups = {p.name for p in Path(config_dir).iterdir() if p.is_dir()}
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key.startswith("hydra") or key == "ckpt_path":
            continue
        if "." not in key and "/" not in key and key in groups:
            if key in current:
                cfg[key] = current[key]
        else:
            OmegaConf.update(cfg, key, OmegaConf.select(current, key), force_add=True)
    cfg.trust_targets = trusted
    return cfg
