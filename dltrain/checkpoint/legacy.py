"""Checkpoints written before the package was regrouped (2026-12) keep loading: one mapping, applied on load.

Such a checkpoint names ``_target_`` paths of modules that have moved (``dltrain.trainer.Trainer`` is now
``dltrain.engine.trainer.Trainer``), keeps the best score inside the Checkpoint callback's state, and keeps
the EMA weights only inside the EMA callback's state. ``upgrade`` turns it into today's layout; a checkpoint
already in today's layout passes through unchanged. tests/test_checkpoint_legacy.py loads one written by the
old code (tests/fixtures/).
"""
from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

# module paths before the regrouping -> today's (only modules named by config _target_ entries matter)
MOVED_MODULES = {
    "dltrain.trainer": "dltrain.engine.trainer",
    "dltrain.schedulers": "dltrain.engine.schedulers",
    "dltrain.callbacks": "dltrain.engine.callbacks",
    "dltrain.loggers": "dltrain.engine.loggers",
    "dltrain.preemption": "dltrain.engine.preemption",
    "dltrain.sweep": "dltrain.launch.sweep",
    "dltrain.job_devices": "dltrain.launch.job_devices",
    "dltrain.data.digits": "dltrain.data.vision.digits",
    "dltrain.data.vision": "dltrain.data.vision.classification",
    "dltrain.data.celeba": "dltrain.data.vision.celeba",
    "dltrain.data.segmentation_data": "dltrain.data.vision.segmentation",
    "dltrain.data.detection_data": "dltrain.data.vision.detection",
    "dltrain.data.paired_images": "dltrain.data.vision.paired_images",
    "dltrain.data.unpaired_images": "dltrain.data.vision.unpaired_images",
    "dltrain.data.style_images": "dltrain.data.vision.style_images",
    "dltrain.data.semi_supervised": "dltrain.data.vision.semi_supervised",
    "dltrain.data.language_model_data": "dltrain.data.text.language_model",
    "dltrain.data.number_words": "dltrain.data.text.number_words",
    "dltrain.data.review_pairs": "dltrain.data.text.review_pairs",
    "dltrain.data.sentence_pairs": "dltrain.data.text.sentence_pairs",
    "dltrain.data.text_classification_data": "dltrain.data.text.classification",
    "dltrain.data.translation_data": "dltrain.data.text.translation",
    "dltrain.data.graph_planetoid": "dltrain.data.graph.planetoid",
    "dltrain.data.graph_synthetic": "dltrain.data.graph.synthetic",
    "dltrain.data.graph_tu": "dltrain.data.graph.tu",
    "dltrain.data.tabular": "dltrain.data.tabular.sklearn_sets",
    "dltrain.data.time_series": "dltrain.data.tabular.time_series",
    # renamed later, when the sequence classifiers took real-valued signals too (own data, issue 17)
    "dltrain.models.sequence.text_classifier": "dltrain.models.sequence.classifiers",
}


def moved_target(target: str) -> str:
    """Today's path of a ``_target_`` (``module.name``); a current path is returned as it is."""
    module, _, name = target.rpartition(".")
    return f"{MOVED_MODULES[module]}.{name}" if module in MOVED_MODULES else target


def upgrade_config(config_yaml: str) -> str:
    """A stored config with every ``_target_`` at today's path and the keys that have gone dropped."""
    cfg = OmegaConf.to_container(OmegaConf.create(config_yaml))  # stored resolved: plain values only
    _retarget(cfg)
    checkpoint_callback = (cfg.get("callbacks") or {}).get("checkpoint") or {}
    for gone in ("monitor", "mode"):  # best.ckpt follows task.monitor / task.monitor_mode since 2026-12
        checkpoint_callback.pop(gone, None)
    if "save_every_n_epochs" in checkpoint_callback:  # renamed beside every_n_epochs (when last.ckpt is written)
        checkpoint_callback["keep_every_n_epochs"] = checkpoint_callback.pop("save_every_n_epochs")
    return OmegaConf.to_yaml(OmegaConf.create(cfg))


def _retarget(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_target_" and isinstance(value, str):
                node[key] = moved_target(value)
            else:
                _retarget(value)
    elif isinstance(node, list):
        for item in node:
            _retarget(item)


def upgrade(state: dict[str, Any]) -> dict[str, Any]:
    """A loaded checkpoint in today's layout (a new dict; the argument is left as it is)."""
    state = dict(state)
    callbacks = state.get("callbacks") or {}
    if "best" not in state:  # kept by the Checkpoint callback, its epoch counted from 0
        saved = callbacks.get("Checkpoint") or {}
        epoch = saved.get("best_epoch")
        state["best"] = {"value": saved.get("best"), "epoch": None if epoch is None else epoch + 1}
    shadow = (callbacks.get("EMA") or {}).get("shadow")
    if "evaluation_model" not in state and shadow:
        state["evaluation_model"], state["evaluation_model_from"] = shadow, "EMA"
    if isinstance(state.get("config"), str):
        state["config"] = upgrade_config(state["config"])
    return state
