"""Where the Hydra configs live, and the resolvers they use.

Configs ship inside the wheel as ``dltrain/configs``; in a source checkout
they sit beside the package in ``configs/``. Importing this module registers
the ``dltrain.*`` resolvers used by ``configs/hydra/default.yaml`` and
``configs/train.yaml``.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf


def config_dir() -> str:
    package = Path(__file__).resolve().parent.parent  # dltrain/
    packaged = package / "configs"
    return str(packaged if packaged.is_dir() else package.parent / "configs")


def docs_dir() -> Path:
    """The guides (docs/*.md): shipped inside the wheel as ``dltrain/docs``, beside the package in a checkout;
    ``dltrain --help TOPIC`` prints one, so messages can name a guide a wheel user has."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "docs"
    return packaged if packaged.is_dir() else package.parent / "docs"


CONFIG_DIR = config_dir()
_RUN_ID = secrets.token_hex(3)  # one per process: two runs started in the same second still differ


def _run_id() -> str:
    return _RUN_ID


def _choice(group: str, *, _root_: DictConfig) -> str:
    """The option picked for a config group (``model`` -> ``vit``), for names of output folders.

    Hydra's own ``${hydra:runtime.choices.X}`` is not available yet when a
    sweep's folder is named, but the choices are already in the config then.
    """
    choice = OmegaConf.select(_root_, f"hydra.runtime.choices.{group}", default=None)
    if choice is None and HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get(group)
    return str(choice or "run")


EVALUATING_MODES = ("eval", "predict")


def _run_root(output_dir: str, fast_dev_run: int | str | None) -> str:
    """outputs/ for runs, outputs/debug/ for trainer=debug (fast_dev_run > 0): quick checks stay out of the run
    table and TensorBoard's list of real runs (launch/output_dirs.py)."""
    return f"{output_dir}/debug" if int(fast_dev_run or 0) > 0 else str(output_dir)


def _mode_prefix(mode: str) -> str:
    """eval_ / predict_ before the time of an evaluation's folder; nothing for a training run."""
    return f"{mode}_" if str(mode) in EVALUATING_MODES else ""


OmegaConf.register_new_resolver("dltrain.run_id", _run_id, replace=True, use_cache=True)
OmegaConf.register_new_resolver("dltrain.choice", _choice, replace=True)
OmegaConf.register_new_resolver("dltrain.run_root", _run_root, replace=True)
OmegaConf.register_new_resolver("dltrain.mode_prefix", _mode_prefix, replace=True)
