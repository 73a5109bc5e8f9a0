"""Preemption: a real SIGTERM mid-epoch, at an epoch end, or twice in one epoch, then `ckpt_path=last`,
ends with exactly the metrics and weights of an uninterrupted run; a kill during a checkpoint write never
leaves a file that `last` would pick."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import run_dirs, run_dltrain, run_here

from dltrain import checkpoint
from dltrain.engine.preemption import PREEMPTED_EXIT_CODE, Preemption
from dltrain.errors import UserError

# 1,257 training digits / 64 = 20 optimizer steps per epoch; deterministic, with dropout and a per-step schedule
RUN = ["trainer.max_epochs=3", "trainer.deterministic=true", "trainer.log_histograms=false", "logger=csv", "seed=0"]
STEPS_PER_EPOCH = 20


def kill_at(step: int) -> list[str]:
    """Make the trainer send itself a real SIGTERM after optimizer step `step`."""
    return ["+callbacks.kill._target_=dltrain.engine.preemption.SignalAtStep", f"+callbacks.kill.step={step}"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return run_here(tmp_path_factory.mktemp("uninterrupted"), *RUN)


def finished_like(run_dir, reference) -> None:
    """Same final / test / best metrics and bit-identical weights as the reference run."""
    ours, theirs = (json.loads((d / "results.json").read_text()) for d in (run_dir, reference))
    for key in ("final", "test"):
        assert {k: v for k, v in ours[key].items() if k != "train/epoch_time_s"} == \
               {k: v for k, v in theirs[key].items() if k != "train/epoch_time_s"}
    assert (ours["best"], ours["best_epoch"]) == (theirs["best"], theirs["best_epoch"])
    for table in ("metrics.csv", "metrics_steps.csv"):  # the rows up to the checkpoint kept, the rest once each
        ours_rows, theirs_rows = ([{k: v for k, v in row.items() if k != "train/epoch_time_s"}
                                   for row in csv.DictReader((d / table).open())] for d in (run_dir, reference))
        assert ours_rows == theirs_rows, table
    for name in ("last.ckpt", "best.ckpt"):
        a, b = (checkpoint.load(d / "checkpoints" / name) for d in (run_dir, reference))
        assert a["global_step"] == b["global_step"] and a["epoch"] == b["epoch"]
        for key in a["model"]:
            assert torch.equal(a["model"][key], b["model"][key]), f"{name}: {key} differs"


def preempted(root, *extra) -> dict:
    """Run until the signal; check the clean exit and return the checkpoint it left."""
    result = run_dltrain(*RUN, *extra, cwd=root)
    assert result.returncode == PREEMPTED_EXIT_CODE, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "ckpt_path=last" in result.stderr
    newest = run_dirs(root, "mlp_digits")[-1]
    assert "SIGTERM received" in (newest / "train.log").read_text()
    return checkpoint.load(newest / "checkpoints" / "last.ckpt")


@pytest.mark.slow
def test_sigterm_mid_epoch_then_resume_matches_the_uninterrupted_run(tmp_path, uninterrupted):
    state = preempted(tmp_path, *kill_at(25))
    assert (state["epoch"], state["batches_done"], state["global_step"]) == (1, 5, 25)  # epoch 2, batch 5
    resumed = run_dltrain(*RUN, "ckpt_path=last", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    finished_like(run_dirs(tmp_path, "mlp_digits")[-1], uninterrupted)


@pytest.mark.slow
def test_sigterm_at_an_epoch_end_then_resume_matches_the_uninterrupted_run(tmp_path, uninterrupted):
    state = preempted(tmp_path, *kill_at(STEPS_PER_EPOCH))  # the signal comes with the epoch's last step
    assert (state["epoch"], state["global_step"]) == (1, STEPS_PER_EPOCH) and "batches_done" not in state
    assert "val/acc" in state["metrics"]  # the epoch was validated before stopping
    resumed = run_dltrain(*RUN, "ckpt_path=last", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    finished_like(run_dirs(tmp_path, "mlp_digits")[-1], uninterrupted)


@pytest.mark.slow
def test_two_sigterms_within_one_epoch_then_resume_matches_the_uninterrupted_run(tmp_path, uninterrupted):
    first = preempted(tmp_path, *kill_at(23))
    second = preempted(tmp_path, "ckpt_path=last", *kill_at(31))  # resumed, then stopped again in epoch 2
    assert (first["epoch"], first["batches_done"]) == (1, 3) and (second["epoch"], second["batches_done"]) == (1, 11)
    resumed = run_dltrain(*RUN, "ckpt_path=last", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    finished_like(run_dirs(tmp_path, "mlp_digits")[-1], uninterrupted)


KILLED_DURING_WRITE = textwrap.dedent("""
    import os, signal, sys, torch
    from pathlib import Path
    from dltrain import checkpoint

    path = Path(sys.argv[1]) / "run" / "checkpoints" / "last.ckpt"
    checkpoint.save({"weights": torch.zeros(3), "epoch": 1}, path)

    real_save = torch.save
    def save_then_die(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")  # part of the new file is on disk...
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # ...when the machine takes the job back for good
    torch.save = save_then_die
    checkpoint.save({"weights": torch.ones(3), "epoch": 2}, path)
""")


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_last_ckpt_whole(tmp_path):
    result = subprocess.run([sys.executable, "-c", KILLED_DURING_WRITE, str(tmp_path / "mlp_digits")],
                            capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL
    folder = tmp_path / "mlp_digits" / "run" / "checkpoints"
    leftovers = [p for p in folder.iterdir() if p.name != "last.ckpt"]
    assert leftovers and leftovers[0].name.startswith(".last.ckpt.")  # the half-written temporary file
    found = checkpoint.find_last(tmp_path, "mlp_digits")
    assert found == folder / "last.ckpt"
    state = checkpoint.load(found)  # whole and readable: the previous checkpoint
    assert state["epoch"] == 1 and torch.equal(state["weights"], torch.zeros(3))


def test_signal_sets_the_flag_only_while_handling_and_restores_the_previous_handler():
    preemption = Preemption(["SIGUSR1"])
    before = signal.getsignal(signal.SIGUSR1)
    with preemption.handling_signals():
        os.kill(os.getpid(), signal.SIGUSR1)
        assert preemption.requested and preemption.received == "SIGUSR1"
    assert signal.getsignal(signal.SIGUSR1) is before


def test_an_unknown_signal_name_is_a_user_error():
    with pytest.raises(UserError, match="SIGTERM"):
        Preemption(["SIGNOPE"])
