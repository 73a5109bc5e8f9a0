"""Command-line entry point: ``dltrain [group=option ...] [key=value ...]`` (``-m`` for sweeps).

Only the Hydra glue lives here; ``dltrain.launch.run`` does the work.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from dltrain.errors import UserError
from dltrain.launch import shared_run_dir
from dltrain.launch.config import CONFIG_DIR

log = logging.getLogger("dltrain")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _run(cfg: DictConfig) -> float | None:
    from dltrain.engine.preemption import INTERRUPTED_EXIT_CODE, PREEMPTED_EXIT_CODE, Preempted
    from dltrain.launch import run, sweep  # imported here so `dltrain --help` stays fast

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    shared_run_dir.publish(run_dir, cfg.get("ckpt_path"))  # torchrun: the other ranks wait for these
    try:
        if cfg.mode == "train":
            log.info("run dir: %s", run_dir)
            results = run.train(cfg, run_dir, list(hydra_cfg.overrides.task))
            log.info("done; run dir: %s", run_dir)
            return results["best"]
        if cfg.mode in ("eval", "predict"):
            eval_cfg, state = run.stored_run(cfg, list(hydra_cfg.overrides.task), run_dir)
            if cfg.mode == "predict":
                from dltrain.predict.run import predict

                log.info("predictions in: %s", predict(eval_cfg, cfg.predict, run_dir, state))
                return None
            metrics = run.evaluate(eval_cfg, run_dir, state)
            log.info("test metrics in: %s", run_dir / "results.json")
            return metrics.get(eval_cfg.task.monitor.replace("val/", "test/"))
        raise UserError(f"mode={cfg.mode} is not one of train, eval, predict.")
    except Preempted as preempted:  # SIGTERM / SIGUSR1: last.ckpt is written; exit "try again later"
        if preempted.by_user:  # Ctrl-C, the same save: the whole command stops
            print(f"dltrain: interrupted (Ctrl-C): {str(preempted).split('; ', 1)[1]}; continue with "
                  "ckpt_path=last", file=sys.stderr)
            sys.exit(INTERRUPTED_EXIT_CODE)
        if sweep.job_reports_back(hydra_cfg):  # a SLURM / joblib sweep job: the sweep collects its other jobs
            sweep.record_preemption(run_dir, str(preempted), preempted.checkpoint)
            return None
        print(f"dltrain: {preempted}; run again with ckpt_path=last to continue", file=sys.stderr)
        sys.exit(PREEMPTED_EXIT_CODE)
    except KeyboardInterrupt:  # Ctrl-C outside the training loop (or twice): nothing to save
        print("dltrain: interrupted (Ctrl-C)", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_CODE)
    except Exception as error:
        user_error = _user_error_in(error)
        if sweep.is_sweep_job(hydra_cfg):  # one failed job is a row of the summary; the other jobs go on
            if user_error is None:
                log.exception("job %s failed", hydra_cfg.job.num)  # a bug: its traceback in the job's log
            sweep.record_failure(run_dir, str(user_error) if user_error else f"{type(error).__name__}: {error}")
            return float("nan")  # what a hyperparameter search (Optuna) takes as a failed trial
        _remove_if_disposable(run_dir)
        if user_error is None:
            raise  # a bug, not a user mistake: Hydra prints the traceback
        if run_dir.is_dir():
            with (run_dir / "train.log").open("a") as handle:  # the run's log keeps the reason too
                handle.write(f"dltrain: error: {user_error}\n")
        _fail(user_error)


def _remove_if_disposable(run_dir: Path) -> None:
    """A failed command leaves no folder of its own behind that holds only its log (rank 0 decides)."""
    from dltrain.launch import output_dirs

    if int(os.environ.get("RANK", "0")) == 0 and output_dirs.remove_if_disposable(run_dir):
        log.info("removed %s: the command failed before it held anything worth keeping", run_dir)


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
    if sys.argv[1:2] == ["runs"]:  # the table of runs: text files only, no Hydra, no torch
        from dltrain.launch import runs

        try:
            sys.exit(runs.main(sys.argv[2:]))
        except UserError as error:
            _fail(error)
    from dltrain.launch.preflight import check_command_line

    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        from dltrain.launch.config import docs_dir
        from dltrain.launch.help import render, render_topic, topic_asked

        topic = topic_asked(sys.argv[1:])
        try:
            print(render_topic(docs_dir(), topic) if topic else render(CONFIG_DIR, docs_dir()))
        except UserError as error:
            _fail(error)
        return
    try:
        check_command_line(sys.argv[1:], CONFIG_DIR)
        sys.argv[1:] = shared_run_dir.follow_rank_zero(sys.argv[1:])  # torchrun: one run dir for all ranks
        from dltrain.launch import resume  # imports torch: after the checks above, which answer without it

        sys.argv[1:] = resume.continue_in_place(sys.argv[1:])  # ckpt_path=last: that run, in its directory
        from dltrain.launch import output_dirs

        sys.argv[1:] = output_dirs.place_evaluation(sys.argv[1:])  # mode=eval / predict: inside the evaluated run
    except UserError as error:
        _fail(error)
    _run()


if __name__ == "__main__":
    main()
