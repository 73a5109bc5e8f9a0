"""Check command-line overrides before Hydra runs, so mistakes get a helpful sentence.

Hydra's own messages are correct but terse ("Key 'max_epoch' is not in
struct"). Here each override is composed once (each value of a sweep too), and
a failure is turned into one paragraph that names the problem and the fix:
the valid options of a group, the closest key to a mistyped one, the type a
key expects.
"""
from __future__ import annotations

import difflib
import shutil
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationKeyError

from dltrain.errors import UserError
from dltrain.launch import validate
from dltrain.launch.config import CONFIG_DIR

# flags after which Hydra does something other than a run: leave those to Hydra
_PASS_THROUGH_FLAGS = ("-h", "--help", "--hydra-help", "--version", "--cfg", "-c", "--info", "-i", "--resolve",
                       "--package", "-p", "--shell-completion", "-sc", "--config-path", "-cp",
                       "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun")


def check_command_line(args: Sequence[str], config_dir: str) -> None:
    if any(arg.split("=")[0] in _PASS_THROUGH_FLAGS for arg in args):
        return
    _check_launcher_can_run(args)
    texts = [a for a in args if not a.startswith("-") and not _for_hydra_only(a)]
    try:
        overrides = OverridesParser.create().parse_overrides(texts)
    except OverrideParseException as error:
        raise UserError(f"Could not parse the command line: {str(error).splitlines()[0]}") from None
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        base = [_first_value(o) for o in overrides]
        _compose_or_explain([t for t in base if t])
        for position, override in enumerate(overrides):
            if override.is_sweep_override():
                for value in _sweep_values(override):
                    variant = list(base)
                    variant[position] = f"{override.get_key_element()}={value}"
                    _compose_or_explain([t for t in variant if t])
    GlobalHydra.instance().clear()


def _for_hydra_only(arg: str) -> bool:
    """Hydra's own settings are Hydra's to check; hydra.searchpath is composed with, as it adds the user's config
    folder (their own data or model configs: docs/own_data.md)."""
    key = arg.split("=")[0].lstrip("+~")
    return key.startswith("hydra") and key != "hydra.searchpath"


def _check_launcher_can_run(args: Sequence[str]) -> None:
    """A SLURM launcher on a machine without SLURM would end in submitit's traceback: say it in one sentence."""
    launcher = next((a.split("=", 1)[1] for a in args if a.startswith("hydra/launcher=")), "")
    sweep = any(a in ("-m", "--multirun") for a in args)  # a single run never uses the launcher
    if sweep and launcher in ("slurm", "submitit_slurm") and shutil.which("srun") is None:
        raise UserError(
            f"hydra/launcher={launcher} submits the sweep's jobs to SLURM, but this machine has no SLURM client "
            "(`srun` is not on the PATH): run the command on the cluster's login node, or use "
            "hydra/launcher=joblib to run the jobs in parallel here."
        )


def _first_value(override: Override) -> str | None:
    """An override as plain text; a sweep contributes its first value (range / interval sweeps none)."""
    if not override.is_sweep_override():
        return override.input_line
    values = _sweep_values(override)
    return f"{override.get_key_element()}={values[0]}" if values else None


def _sweep_values(override: Override) -> list[str]:
    try:
        return list(override.sweep_string_iterator())
    except Exception:  # interval(...) / tag sweeps are for the Optuna sweeper to expand
        return []


def _compose_or_explain(overrides: list[str]) -> DictConfig:
    try:
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    except MissingConfigException as error:
        raise UserError(_explain_missing(error, overrides)) from None
    except ConfigCompositionException as error:
        raise UserError(_explain_composition(error, overrides)) from None
    _check_types(cfg, overrides)
    validate.check(cfg)
    _check_model_reads_data(cfg)
    return cfg


def _check_model_reads_data(cfg: DictConfig) -> None:
    """A model reads shape facts from its data config; a pair from two families lacks them.

    A fact left ``null`` (the own-data configs: the data module finds it in the files) resolves here and is
    checked once the data is read (dltrain/launch/data_facts.py); only a key the data config does not have
    at all marks a pair of two families.
    """
    for group in ("model", "task"):
        try:
            OmegaConf.to_container(cfg[group], resolve=True)
        except InterpolationKeyError as error:
            missing = str(error).split("'")[1] if "'" in str(error) else str(error)
            if not missing.startswith("data."):
                raise
            choices = cfg.hydra.runtime.choices
            raise UserError(
                f"model={choices.model} needs {missing}, which data={choices.data} does not state: the model and "
                f"the data belong to different task families; pick a data config of the model's family (its "
                f"experiment configs show one: the experiment group of dltrain --help) or add that key to the data config."
            ) from None


def _group_options(group: str) -> list[str]:
    loader = GlobalHydra.instance().config_loader()
    return sorted(loader.get_group_options(group))


def _explain_missing(error: MissingConfigException, overrides: list[str]) -> str:
    for text in overrides:
        key, _, value = text.lstrip("+~").partition("=")
        if "." in key or not value:
            continue
        options = _group_options(key)
        for choice in value.strip("[]").split(","):
            if options and choice not in options:
                close = difflib.get_close_matches(choice, options, n=1)
                hint = f" Did you mean {key}={close[0]}?" if close else ""
                return (f"Unknown {key} '{choice}'.{hint} Valid options for {key}: {', '.join(options)}. "
                        f"Each is a YAML file in {Path(CONFIG_DIR) / key}; a new one goes in a config folder of "
                        "your own, added with hydra.searchpath (dltrain --help own_data, 'Your own code').")
    return str(error).splitlines()[0]


def _explain_composition(error: ConfigCompositionException, overrides: list[str]) -> str:
    message = str(error)
    for text in overrides:
        key = text.lstrip("+~").partition("=")[0]
        if f"'{key}'" not in message:
            continue
        if "." not in key:  # a group name that does not exist
            groups = sorted(set(GlobalHydra.instance().config_loader().list_groups("")) - {"hydra"})
            close = difflib.get_close_matches(key, groups, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            return f"'{key}' is not a config group or key.{hint} Config groups: {', '.join(groups)}."
        parent, _, leaf = key.rpartition(".")
        others = [t for t in overrides if t != text]
        try:
            node = OmegaConf.select(compose(config_name="train", overrides=others), parent)
        except Exception:
            node = None
        keys = list(node.keys()) if isinstance(node, DictConfig) else []
        close = difflib.get_close_matches(leaf, [str(k) for k in keys], n=1)
        hint = f" Did you mean {parent}.{close[0]}?" if close else ""
        valid = f" Keys of {parent}: {', '.join(map(str, keys))}." if keys else ""
        return (f"Unknown key {key}.{hint}{valid} To add a new key on purpose, write +{text}.")
    return message.splitlines()[0]


def _check_types(cfg: DictConfig, overrides: list[str]) -> None:
    """A number-valued key must get a number (``trainer.max_epochs=ten`` fails here, not mid-run)."""
    for text in overrides:
        key, _, raw = text.partition("=")
        if "." not in key or key.startswith(("+", "~")):
            continue
        value = OmegaConf.select(cfg, key, throw_on_missing=False)
        if not isinstance(value, str):
            continue
        try:
            defaults = compose(config_name="train", overrides=[t for t in overrides if t != text])
            default = OmegaConf.select(defaults, key, throw_on_missing=False)
        except Exception:
            continue
        expected = {bool: "true or false", int: "a whole number", float: "a number"}
        if type(default) in expected:
            raise UserError(
                f"{key} expects {expected[type(default)]} (the default is {default}), got '{value}'; "
                f"write e.g. {key}={default}."
            )
