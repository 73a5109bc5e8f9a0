"""From a composed config to a finished run: build the pieces, train or evaluate, report.

``cli.py`` hands the composed config here; tests call ``train(cfg)`` and
``evaluate(cfg)`` directly (the Python API).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from dltrain import checkpoint
from dltrain.checkpoint.fine_tune import load_pretrained_part
from dltrain.checkpoint.run_state import load_inference_weights
from dltrain.engine.environment import seed_everything
from dltrain.engine.trainer import Trainer
from dltrain.errors import UserError
from dltrain.launch import cross_validation
from dltrain.tasks.base import Task

log = logging.getLogger(__name__)

def build_data(cfg: DictConfig) -> Any:
    data = instantiate(cfg.data)
    data.setup()
    return data


def build_model(cfg: DictConfig) -> nn.Module:
    """The model of the config; ``model.init_from=PATH`` then fills its pre-trained part (an encoder) from a
    pre-training run's checkpoint (dltrain/checkpoint/fine_tune.py): models themselves never read files."""
    options = OmegaConf.to_container(cfg.model, resolve=True)  # resolved here: nested nodes read data.* facts
    init_from = options.pop("init_from", None)
    model = instantiate(options)
    if init_from:
        load_pretrained_part(model, init_from)
    return model


def build_task(cfg: DictConfig) -> Task:
    model = build_model(cfg)
    loss = instantiate(cfg.loss) if cfg.get("loss") else None
    task_options = {k: v for k, v in cfg.task.items() if k != "_target_"}
    return instantiate({"_target_": cfg.task._target_}, model=model, loss=loss, **task_options)


def build_trainer(cfg: DictConfig, run_dir: Path) -> Trainer:
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    return instantiate(cfg.trainer, run_dir=run_dir, loggers=loggers, callbacks=callbacks, seed=cfg.seed,
                       config_yaml=OmegaConf.to_yaml(cfg, resolve=True))


def split_optimizer_config(cfg: DictConfig) -> tuple[Any, bool]:
    """The optimizer partial, and whether norm / bias parameters get weight decay."""
    options = OmegaConf.to_container(cfg.optimizer, resolve=True)
    decay_norm_and_bias = bool(options.pop("decay_norm_and_bias", False))
    return instantiate(options), decay_norm_and_bias


def check_model_fits_data(task: Task, data: Any, cfg: DictConfig) -> None:
    """One forward pass on a real batch before training: a pair that cannot work fails here, in one sentence."""
    task.check_data(data)
    batch = next(iter(data.val_dataloader()))
    model_was_training = task.model.training
    task.model.eval()
    try:
        with torch.no_grad():
            task.example_forward(batch)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        reason = str(error).strip().splitlines()[0][:300]
        choices = _choices(cfg)
        raise UserError(
            f"model={choices.get('model', '?')} cannot take data={choices.get('data', '?')}'s batches ({reason}); "
            "pick a model of the same task family as the data (`dltrain --help` lists them), "
            "or fix the shape keys in the data config."
        ) from None
    finally:
        task.model.train(model_was_training)


def resolve_ckpt_path(cfg: DictConfig, run_dir: Path) -> Path | None:
    if not cfg.get("ckpt_path"):
        return None
    if str(cfg.ckpt_path) == "last":
        found = checkpoint.find_last(Path(cfg.paths.output_dir), cfg.task_name, exclude=run_dir)
        log.info("ckpt_path=last -> %s", found)
        return found
    return Path(cfg.ckpt_path)


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train (or cross-validate with ``cv.folds=K``); returns the contents of results.json."""
    seed_everything(cfg.seed)  # before any model or data is built: initial weights depend on the seed
    data = build_data(cfg)
    folds = OmegaConf.select(cfg, "cv.folds", default=0) or 0
    if folds < 2:
        return fit_and_test(cfg, data, run_dir)

    def train_fold(fold: int) -> dict[str, Any]:
        seed_everything(cfg.seed)  # every fold starts from the same initial weights
        results = fit_and_test(cfg, data, run_dir / f"fold_{fold}")
        return {"best": results["best"], **{k: v for k, v in results["final"].items() if k.startswith("val/")}}

    summary = cross_validation.cross_validate(data, folds, bool(cfg.cv.stratified), cfg.seed, train_fold)
    cross_validation.write_summary(summary, run_dir)
    log.info("%d-fold cross-validation: best %s = %.4f +- %.4f", folds, cfg.task.monitor, summary["best/mean"],
             summary["best/std"])
    return {"best": summary["best/mean"], "cv": summary}


def fit_and_test(cfg: DictConfig, data: Any, run_dir: Path) -> dict[str, Any]:
    """Train one model on ``data``, test the best weights, write results.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    task = build_task(cfg)
    check_model_fits_data(task, data, cfg)
    trainer = build_trainer(cfg, run_dir)
    optimizer, decay_norm_and_bias = split_optimizer_config(cfg)
    scheduler = instantiate(cfg.scheduler)
    ckpt_path = resolve_ckpt_path(cfg, run_dir)
    try:
        fit = trainer.fit(task, data, optimizer, scheduler, decay_norm_and_bias, ckpt_path=ckpt_path)
        final = fit.metrics
        best_path = run_dir / "checkpoints" / "best.ckpt"
        if best_path.exists():  # test the weights that were best on validation
            load_inference_weights(task, checkpoint.load(best_path))
        test_metrics = trainer.test(task, data) if cfg.get("test", True) else {}
        results = {
            "monitor": task.monitor,
            "best": fit.best if fit.best is not None else final.get(task.monitor),
            "best_epoch": fit.best_epoch,
            "final": final,
            "test": test_metrics,
            **trainer.model_facts,
        }
        hparams = _flat_choices(cfg)
        trainer.loggers.log_hparams(hparams, {**final, **test_metrics})
    finally:
        trainer.loggers.close()
    if trainer.is_global_zero:  # under DDP every rank has the same (reduced) results; rank 0 writes them
        (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    log.info("best %s = %s (epoch %s); test: %s", task.monitor, results["best"], results["best_epoch"],
             {k: round(v, 4) for k, v in test_metrics.items()})
    return results


def evaluate(cfg: DictConfig, run_dir: Path, state: dict[str, Any] | None = None) -> dict[str, float]:
    """Test metrics of a checkpoint, with the config stored in it (command-line overrides win).

    ``state`` is the checkpoint already loaded by the caller (it read the config from it), so the file is read once.
    """
    seed_everything(cfg.seed)
    data = build_data(cfg)
    task = build_task(cfg)
    check_model_fits_data(task, data, cfg)
    trainer = build_trainer(cfg, run_dir)
    trainer.loggers.setup(run_dir)
    load_inference_weights(task, state if state is not None else checkpoint.load(cfg.ckpt_path))
    try:
        metrics = trainer.test(task, data)
    finally:
        trainer.loggers.close()
    if trainer.is_global_zero:
        (run_dir / "results.json").write_text(json.dumps({"checkpoint": str(cfg.ckpt_path), "test": metrics}, indent=2))
    log.info("test metrics of %s: %s", cfg.ckpt_path, {k: round(v, 4) for k, v in metrics.items()})
    return metrics


def config_for_eval(stored_yaml: str, current: DictConfig, overrides: list[str], groups: set[str]) -> DictConfig:
    """The checkpoint's config with the user's command-line overrides applied on top.

    A group override (``data=mnist``) replaces the whole group with what Hydra
    composed for it; a key override (``data.batch_size=8``) replaces one value.
    """
    cfg = OmegaConf.create(stored_yaml)
    OmegaConf.set_struct(cfg, False)
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key.startswith("hydra"):
            continue
        top = key.split("/")[0]
        if top in groups and "." not in key:
            cfg[top] = current[top]
        else:
            OmegaConf.update(cfg, key, OmegaConf.select(current, key), force_add=True)
    return cfg


def _choices(cfg: DictConfig) -> dict[str, str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return dict(HydraConfig.get().runtime.choices)
    except ValueError:  # called outside a Hydra run (Python API)
        return {}


def _flat_choices(cfg: DictConfig) -> dict[str, Any]:
    """The hyperparameters a sweep varies: group choices plus the optimizer's numbers."""
    choices = {k: v for k, v in _choices(cfg).items() if not k.startswith("hydra") and v is not None}
    for key in ("lr", "weight_decay", "momentum"):
        if key in cfg.optimizer:
            choices[f"optimizer.{key}"] = cfg.optimizer[key]
    choices["seed"] = cfg.seed
    return choices
