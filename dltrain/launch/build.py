"""From a composed config to the objects of a run: data (set up), model, task, trainer, optimizer factory.

Everything is built with ``hydra.utils.instantiate`` from the config; the few things that are not a plain
constructor call are here too: ``model.init_from`` (a pre-trained part loaded after building), a
distillation teacher rebuilt from its own checkpoint (checked by ``dltrain.checkpoint.stored_config``),
and the forward pass that tells a model / data pair that cannot work before anything trains.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from dltrain import checkpoint
from dltrain.checkpoint import stored_config
from dltrain.checkpoint.fine_tune import load_pretrained_part
from dltrain.engine.trainer import Trainer
from dltrain.errors import UserError
from dltrain.launch.config import CONFIG_DIR
from dltrain.launch.data_facts import state_data_facts
from dltrain.tasks.base import Task


def build_data(cfg: DictConfig) -> Any:
    """The data module, set up; what it found out (class count, shapes...) is written into ``cfg.data``."""
    data = instantiate(cfg.data)
    data.setup()
    state_data_facts(cfg, data)
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
    if "teacher_ckpt" in task_options:  # knowledge distillation: the teacher is a finished run
        task_options["teacher"] = load_teacher(task_options.pop("teacher_ckpt"), cfg)
    return instantiate({"_target_": cfg.task._target_}, model=model, loss=loss, **task_options)


def build_trainer(cfg: DictConfig, run_dir: Path) -> Trainer:
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    # a test pass after training draws the run's last pictures (plots/): then the last epoch need not
    return instantiate(cfg.trainer, run_dir=run_dir, loggers=loggers, callbacks=callbacks, seed=cfg.seed,
                       config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
                       visuals_at_last_epoch=not cfg.get("test", True))


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


def load_teacher(path: str | None, current: DictConfig | None = None) -> nn.Module:
    """The frozen model of a finished run (``task.teacher_ckpt``), built from the config stored with it."""
    if not path:
        raise UserError("task=distillation needs a trained teacher: add task.teacher_ckpt=PATH "
                        "(the best.ckpt of an earlier dltrain run).")
    state = checkpoint.load(path)
    stored = stored_config.rebuild(state["config"], f"The teacher checkpoint {path}", current, [], CONFIG_DIR)
    model = build_model(stored)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise UserError(f"The teacher checkpoint {path} does not fit the model its own config describes "
                        f"({str(error).splitlines()[0]}); pass a checkpoint written by dltrain.") from None
    return model.requires_grad_(False).eval()


def _choices(cfg: DictConfig) -> dict[str, str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return dict(HydraConfig.get().runtime.choices)
    except ValueError:  # called outside a Hydra run (Python API)
        return {}
