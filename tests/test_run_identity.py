"""A run has an identity: `ckpt_path=last` continues the run of this command's config that is not running, in its
own directory; otherwise one sentence says which runs there are and why none fits."""
from __future__ import annotations

import csv
import json
import os

from helpers import run_dirs, train_here

from dltrain import checkpoint
from dltrain.launch.resume import RUN_LOCK

QUICK = ["trainer.log_histograms=false", "logger=csv"]


def test_last_continues_the_run_with_this_config_not_the_newest_one(cli):
    mine = train_here(cli.root, *QUICK, "trainer.max_epochs=1", "optimizer.lr=0.002")
    train_here(cli.root, *QUICK, "trainer.max_epochs=1", "optimizer.lr=0.01")  # newer, another lr
    cli(*QUICK, "trainer.max_epochs=2", "optimizer.lr=0.002", "ckpt_path=last")
    assert checkpoint.load(mine / "checkpoints" / "last.ckpt")["epoch"] == 2
    assert len(run_dirs(cli.root, "mlp_digits")) == 2  # continued in place: no third directory
    with (mine / "metrics.csv").open() as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == [1, 2]  # epoch 2's row follows epoch 1's
    with (mine / "metrics_steps.csv").open() as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle)]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # the resumed steps follow the first ones


def test_no_run_of_this_config_is_one_sentence_naming_the_candidates(cli):
    other = train_here(cli.root, *QUICK, "trainer.max_epochs=1", "seed=1")
    result = cli(*QUICK, "trainer.max_epochs=2", "seed=2", "ckpt_path=last", ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{other} (differs in seed=1->2" in result.stderr and "ckpt_path=<its directory>" in result.stderr


def test_a_running_run_is_never_continued(cli):
    running = train_here(cli.root, *QUICK, "trainer.max_epochs=1")
    (running / RUN_LOCK).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    result = cli(*QUICK, "trainer.max_epochs=2", "ckpt_path=last", ok=False)
    assert result.returncode == 2 and f"running (pid {os.getpid()})" in result.stderr
    assert checkpoint.load(running / "checkpoints" / "last.ckpt")["epoch"] == 1
    (running / RUN_LOCK).write_text(json.dumps({"pid": 2**22 + 17, "host": os.uname().nodename}))  # a dead process
    cli(*QUICK, "trainer.max_epochs=2", "ckpt_path=last")  # a killed run's stale lock does not block it
    assert checkpoint.load(running / "checkpoints" / "last.ckpt")["epoch"] == 2
    assert not (running / RUN_LOCK).exists()


def test_last_or_new_starts_fresh_when_there_is_nothing_to_continue(cli):
    (cli.root / "outputs" / "mlp_digits" / "died_in_epoch_1" / ".hydra").mkdir(parents=True)  # no checkpoint yet
    cli(*QUICK, "trainer.max_epochs=1", "ckpt_path=last_or_new")
    fresh = [d for d in run_dirs(cli.root, "mlp_digits") if (d / "checkpoints" / "last.ckpt").exists()]
    assert len(fresh) == 1
    cli(*QUICK, "trainer.max_epochs=2", "ckpt_path=last_or_new")  # the requeue: now there is one to continue
    assert checkpoint.load(fresh[0] / "checkpoints" / "last.ckpt")["epoch"] == 2


def test_a_run_directory_as_ckpt_path_continues_that_run(cli):
    run_dir = train_here(cli.root, *QUICK, "trainer.max_epochs=1")
    cli(*QUICK, "trainer.max_epochs=2", f"ckpt_path={run_dir}")
    assert checkpoint.load(run_dir / "checkpoints" / "last.ckpt")["epoch"] == 2
    empty = cli.root / "empty"
    empty.mkdir()
    result = cli(*QUICK, f"ckpt_path={empty}", ok=False)
    assert result.returncode == 2 and "is a directory without checkpoints/last.ckpt" in result.stderr
