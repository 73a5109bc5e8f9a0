"""From a composed config to a finished run: train (or cross-validate) or evaluate, and report results.json.

``cli.py`` hands the composed config here, ``dltrain.api`` does the same from Python; the pieces are built
by ``dltrain.launch.build``.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dltrain import checkpoint
from dltrain.checkpoint import stored_config
from dltrain.checkpoint.files import save_weights
from dltrain.checkpoint.run_state import load_inference_weights, restore_evaluation_callbacks, tested_weights
from dltrain.engine.environment import seed_everything
from dltrain.errors import UserError
from dltrain.launch import build, cross_validation, figures, hparams, resume, validate
from dltrain.launch.config import CONFIG_DIR

log = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.pt"  # checkpoints/weights.pt: the tested model's state_dict alone (EMA's when it is on)


def resolve_ckpt_path(cfg: DictConfig, run_dir: Path) -> Path | None:
    """The checkpoint file ``cfg.ckpt_path`` names. Training: the run of the same identity (launch/resume.py;
    the command line has usually resolved it already, to continue that run in its own directory); eval and
    predict: the newest last.ckpt of the task_name."""
    if not cfg.get("ckpt_path"):
        return None
    if cfg.get("mode", "train") != "train" and str(cfg.ckpt_path) in resume.SEARCHES:
        found = checkpoint.find_last(Path(cfg.paths.output_dir), cfg.task_name, exclude=run_dir)
    else:
        found = resume.resolve(cfg, exclude=run_dir).checkpoint
    if found is not None and str(found) != str(cfg.ckpt_path):
        log.info("ckpt_path=%s -> %s", cfg.ckpt_path, found)
    return found


def train(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Train (or cross-validate with ``cv.folds=K``); returns the contents of results.json. While it trains, the
    run directory holds a lock naming this process, so ``ckpt_path=last`` elsewhere never continues it.
    ``overrides``: the command line's (or the sweep job's), the hyperparameters TensorBoard's HPARAMS shows."""
    validate.check(cfg)  # the command line did already (preflight); the Python API comes here directly
    rank_zero = int(os.environ.get("RANK", "0")) == 0
    ckpt_path = resolve_ckpt_path(cfg, run_dir) if rank_zero else cfg.get("ckpt_path")  # rank 0 resolved for all
    if ckpt_path:  # a resumed checkpoint's stored config is checked like any other before anything is built
        stored_config.rebuild(checkpoint.load(ckpt_path)["config"], f"The checkpoint {ckpt_path}", cfg, [],
                              CONFIG_DIR)
    if not rank_zero:
        return _train(cfg, run_dir, ckpt_path, overrides)
    resume.hold_lock(run_dir)
    try:
        return _train(cfg, run_dir, ckpt_path, overrides)
    finally:
        resume.release_lock(run_dir)


def _train(cfg: DictConfig, run_dir: Path, ckpt_path: Path | None, overrides: Sequence[str]) -> dict[str, Any]:
    seed_everything(cfg.seed)  # before any model or data is built: initial weights depend on the seed
    data = build.build_data(cfg)
    folds = OmegaConf.select(cfg, "cv.folds", default=0) or 0
    if folds < 2:
        return fit_and_test(cfg, data, run_dir, ckpt_path, overrides)

    def train_fold(fold: int) -> dict[str, Any]:
        seed_everything(cfg.seed)  # every fold starts from the same initial weights
        results = fit_and_test(cfg, data, run_dir / f"fold_{fold}", ckpt_path, overrides)
        return {"best": results["best"], **{k: v for k, v in results["final"].items() if k.startswith("val/")}}

    summary = cross_validation.cross_validate(data, folds, bool(cfg.cv.stratified), cfg.seed, train_fold)
    cross_validation.write_summary(summary, run_dir)
    log.info("%d-fold cross-validation: best %s = %.4f +- %.4f", folds, cfg.task.monitor, summary["best/mean"],
             summary["best/std"])
    return {"best": summary["best/mean"], "cv": summary}


def fit_and_test(cfg: DictConfig, data: Any, run_dir: Path, ckpt_path: Path | None = None,
                 overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Train one model on ``data``, test the best weights, write results.json, plots/ and per_class.csv, and
    TensorBoard's HPARAMS row (the overrides, the best epoch's metrics and the test's)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    task = build.build_task(cfg)
    build.check_model_fits_data(task, data, cfg)
    trainer = build.build_trainer(cfg, run_dir)
    optimizer, decay_norm_and_bias = build.split_optimizer_config(cfg)
    scheduler = instantiate(cfg.scheduler)
    try:
        fit = trainer.fit(task, data, optimizer, scheduler, decay_norm_and_bias, ckpt_path=ckpt_path)
        final = fit.metrics
        best_path = run_dir / "checkpoints" / "best.ckpt"
        best_state = checkpoint.load(best_path) if best_path.exists() else None
        if best_state is not None:  # test the weights that were best on validation
            load_inference_weights(task, best_state)
            restore_evaluation_callbacks(trainer.callbacks, best_state)
        test_metrics = trainer.test(task, data) if cfg.get("test", True) else {}
        if trainer.is_global_zero and trainer.run_state.enabled:  # the weights alone, to hand to someone
            save_weights(tested_weights(task, trainer.callbacks, best_state), run_dir / "checkpoints" / WEIGHTS_FILE)
        results = {
            "monitor": task.monitor,
            "best": fit.best if fit.best is not None else final.get(task.monitor),
            "best_epoch": fit.best_epoch,
            "final": final,
            "test": test_metrics,
            **trainer.model_facts,
        }
        if trainer.is_global_zero and not trainer.fast_dev_run:  # trainer=debug checks a config; it draws nothing
            figures.write_end_of_run(task, trainer.loggers, run_dir, "test" if test_metrics else "val")
        best_metrics = fit.best_metrics or final  # no monitored value ever (a NaN run): the last epoch
        shown = {k: v for k, v in best_metrics.items() if k.startswith("val/") or k == "train/loss_epoch"}
        trainer.loggers.log_hparams(hparams.hparams(cfg, overrides), {**shown, **test_metrics},
                                    hparams.run_name(overrides),
                                    fit.best_step if fit.best_step is not None else trainer.global_step)
    finally:
        trainer.loggers.close()
    if trainer.is_global_zero:  # under DDP every rank has the same (reduced) results; rank 0 writes them
        (run_dir / "results.json").write_text(json.dumps(results, indent=2))
        if not trainer.fast_dev_run:  # trainer=debug checks a config: no pictures of three batches
            _draw_curves(run_dir)
    log.info("best %s = %s (epoch %s); test: %s", task.monitor, results["best"], results["best_epoch"],
             {k: round(v, 4) for k, v in test_metrics.items()})
    return results


def _draw_curves(run_dir: Path) -> None:
    """plots/results.png from metrics.csv (logger=csv or the default); a picture that fails costs no results."""
    if not (run_dir / "metrics.csv").is_file():
        return
    from dltrain.visuals import results_plot

    try:
        log.info("curves: %s", results_plot.draw_run(run_dir))
    except Exception as error:  # noqa: BLE001 - the run is done; its numbers are in metrics.csv whatever happens here
        log.warning("could not draw plots/results.png (%s: %s)", type(error).__name__, error)


def stored_run(cfg: DictConfig, overrides: list[str], run_dir: Path) -> tuple[DictConfig, dict[str, Any]]:
    """``mode=eval`` / ``mode=predict`` / ``api.evaluate``: the run ``cfg.ckpt_path`` describes, with the command's
    overrides on top, its targets checked (``dltrain.checkpoint.stored_config``); and the loaded checkpoint."""
    if not cfg.get("ckpt_path"):
        raise UserError(f"mode={cfg.mode} needs a checkpoint: add ckpt_path=PATH (or ckpt_path=last).")
    path = resolve_ckpt_path(cfg, run_dir)
    state = checkpoint.load(path)
    stored = stored_config.rebuild(state["config"], f"The checkpoint {path}", cfg, overrides, CONFIG_DIR)
    stored.ckpt_path = str(path)
    return stored, state


def evaluate(cfg: DictConfig, run_dir: Path, state: dict[str, Any] | None = None) -> dict[str, float]:
    """Test metrics of a checkpoint, with the config stored in it (command-line overrides win).

    ``state`` is the checkpoint already loaded by the caller (it read the config from it), so the file is read once.
    """
    seed_everything(cfg.seed)
    data = build.build_data(cfg)
    task = build.build_task(cfg)
    build.check_model_fits_data(task, data, cfg)
    trainer = build.build_trainer(cfg, run_dir)
    trainer.loggers.setup(run_dir)
    load_inference_weights(task, state if state is not None else checkpoint.load(cfg.ckpt_path))
    try:
        metrics = trainer.test(task, data)
        if trainer.is_global_zero and not trainer.fast_dev_run:
            figures.write_end_of_run(task, trainer.loggers, run_dir, "test")
    finally:
        trainer.loggers.close()
    if trainer.is_global_zero:
        (run_dir / "results.json").write_text(json.dumps({"checkpoint": str(cfg.ckpt_path), "test": metrics}, indent=2))
    log.info("test metrics of %s: %s", cfg.ckpt_path, {k: round(v, 4) for k, v in metrics.items()})
    return metrics

