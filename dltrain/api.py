"""The Python API: the same runs as the command line, from a notebook or a test.

    from dltrain import api
    results = api.train(["model=lenet", "trainer.max_epochs=3"])
    metrics = api.evaluate(results_dir / "checkpoints/best.ckpt")   # results in <run>/eval_<date>_<time>_<id>/
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from dltrain.launch.config import CONFIG_DIR, _mode_prefix, _run_root
from dltrain.launch.output_dirs import evaluation_dir, stamp


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """The config ``dltrain OVERRIDES`` would run, without Hydra's own ``hydra`` node."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    OmegaConf.set_struct(cfg, False)
    cfg.task_name = str(cfg.task_name)  # resolved while the group choices are still in the config
    del cfg["hydra"]
    GlobalHydra.instance().clear()
    return cfg


def default_run_dir(cfg: DictConfig) -> Path:
    """The folder ``dltrain`` would make for ``cfg`` (dltrain/launch/output_dirs.py): outputs/<task_name>/<date>_
    <time>_<id>, under outputs/debug/ for trainer=debug, named eval_... / predict_... for those modes."""
    root = _run_root(cfg.paths.output_dir, OmegaConf.select(cfg, "trainer.fast_dev_run", default=0))
    return Path(root) / cfg.task_name / f"{_mode_prefix(cfg.get('mode', 'train'))}{stamp()}"


def train(overrides: Sequence[str] = (), run_dir: str | Path | None = None) -> dict[str, Any]:
    """Train as ``dltrain OVERRIDES`` does; returns the contents of results.json."""
    from dltrain.launch import (
        resume,
        run,  # torch and the data libraries: imported when needed, so compose() stays light
    )

    cfg = compose(overrides)
    continued = resume.resolve(cfg) if cfg.mode == "train" else resume.Resolution()
    if cfg.get("ckpt_path"):  # the file it names; a continued run keeps its directory, as on the command line
        cfg.ckpt_path = str(continued.checkpoint) if continued.checkpoint else None
    directory = Path(run_dir) if run_dir else continued.run_dir or default_run_dir(cfg)
    directory.mkdir(parents=True, exist_ok=True)
    return run.train(cfg, directory, list(overrides))


def evaluate(ckpt_path: str | Path, overrides: Sequence[str] = (), run_dir: str | Path | None = None) -> dict[str, float]:
    """Test metrics of a checkpoint with the config stored in it; ``overrides`` as on the command line win
    (``data=mnist`` composes the data group, ``data.batch_size=8`` sets one key), as ``dltrain mode=eval``."""
    from dltrain.launch import run

    current = compose([*overrides, "mode=eval"])
    current.ckpt_path = str(ckpt_path)
    cfg, state = run.stored_run(current, list(overrides), Path("."))
    directory = Path(run_dir) if run_dir else evaluation_dir("eval", ckpt_path) or default_run_dir(cfg)
    directory.mkdir(parents=True, exist_ok=True)
    return run.evaluate(cfg, directory, state)
