"""Command-line entry point: ``dltrain [group=option ...] [key=value ...]`` (``-m`` for sweeps).

Only the Hydra glue lives here; ``dltrain.run`` does the work.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from dltrain.config import CONFIG_DIR
from dltrain.errors import UserError


log = logging.getLogger("dltrain")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _run(cfg: DictConfig) -> float | None:
    from dltrain import run  # imported here so `dltrain --help` stays fast

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        if cfg.mode == "train":
            log.info("run dir: %s", run_dir)
            results = run.train(cfg, run_dir)
            log.info("done; run dir: %s", run_dir)
            return results["best"]
        if cfg.mode == "eval":
            if not cfg.ckpt_path:
                raise UserError("mode=eval needs a checkpoint: add ckpt_path=PATH (or ckpt_path=last).")
            ckpt_path = run.resolve_ckpt_path(cfg, run_dir)
            state = run.checkpoint.load(ckpt_path)
            eval_cfg = run.config_for_eval(state["config"], cfg, list(hydra_cfg.overrides.task), set(hydra_cfg.runtime.choices))
            eval_cfg.ckpt_path = str(ckpt_path)
            metrics = run.evaluate(eval_cfg, run_dir, state)
            return metrics.get(eval_cfg.task.monitor.replace("val/", "test/"))
        raise UserError(f"mode={cfg.mode} is not one of train, eval.")
    except Exception as error:
        user_error = _user_error_in(error)
        if user_error is None:
            raise  # a bug, not a user mistake: Hydra prints the traceback
        with (run_dir / "train.log").open("a") as handle:  # the run's log keeps the reason too
            handle.write(f"dltrain: error: {user_error}\n")
        _fail(user_error)


def _user_error_in(error: BaseException | None) -> UserError | None:
    """The UserError behind an exception (Hydra's instantiate wraps errors raised in constructors)."""
    while error is not None:
        if isinstance(error, UserError):
            return error
        error = error.__cause__
    return None


def _fail(error: UserError) -> None:
    print(f"dltrain: error: {error}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    from dltrain.preflight import check_command_line

    try:
        check_command_line(sys.argv[1:], CONFIG_DIR)
    except UserError as error:
        _fail(error)
    _run()


if __name__ == "__main__":
    main()
