"""Checkpoint writes: in the background from an epoch-end snapshot, best.ckpt and last.ckpt from one write in an
order no kill can break, partial files cleaned up, a full disk in one sentence with the earlier files intact."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
import torch
from helpers import run_dirs, run_dltrain
from test_preemption import RUN, finished_like, uninterrupted  # noqa: F401  (the module-scoped fixture)

from dltrain import api, checkpoint
from dltrain.checkpoint import files
from dltrain.checkpoint.writer import CheckpointWriter
from dltrain.errors import UserError


def test_the_background_write_holds_the_state_of_the_moment_it_was_asked_for(tmp_path, monkeypatch):
    release = threading.Event()
    real_save = files.save

    def slow_save(*args, **kwargs):  # the disk is slow: training goes on before the bytes are written
        release.wait(10)
        real_save(*args, **kwargs)

    monkeypatch.setattr(files, "save", slow_save)
    model = torch.nn.Linear(3, 2)
    ema = {k: v.clone() for k, v in model.state_dict().items()}
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    writer = CheckpointWriter(background=True)
    writer.write({"model": model.state_dict(), "ema": ema, "evaluation_model": ema}, tmp_path / "last.ckpt")
    with torch.no_grad():
        model.weight.add_(1.0)  # the next optimizer steps change the live weights...
        ema["bias"].add_(1.0)
    release.set()
    writer.wait()
    saved = checkpoint.load(tmp_path / "last.ckpt")
    assert all(torch.equal(saved["model"][k], v) for k, v in expected.items())  # ...not the snapshot
    assert saved["evaluation_model"]["bias"].data_ptr() == saved["ema"]["bias"].data_ptr()  # stored once


def test_best_and_last_are_one_write_and_best_is_in_place_first(tmp_path, monkeypatch):
    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(files.os, "replace", lambda src, dst: (renamed.append(os.path.basename(dst)),
                                                                real_replace(src, dst)))
    files.save({"epoch": 3}, tmp_path / "last.ckpt", also=[tmp_path / "best.ckpt"])
    assert renamed == ["best.ckpt", "last.ckpt"]  # a kill between the two leaves last.ckpt behind, never ahead
    assert os.path.samefile(tmp_path / "last.ckpt", tmp_path / "best.ckpt")  # a hard link: the bytes once
    files.save({"epoch": 4}, tmp_path / "last.ckpt")
    assert checkpoint.load(tmp_path / "best.ckpt")["epoch"] == 3  # replacing last.ckpt leaves best.ckpt alone


def test_a_full_disk_ends_in_one_sentence_frees_the_partial_file_and_keeps_the_earlier_ones(tmp_path, monkeypatch):
    real_torch_save = torch.save
    calls = []

    def fill_the_disk(obj, handle, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            return real_torch_save(obj, handle, *args, **kwargs)
        handle.write(b"part of a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.torch, "save", fill_the_disk)
    with pytest.raises(UserError, match=r"Could not write last.ckpt in .* \(the disk is full\); the checkpoints "
                                        r"written before are intact"):
        api.train(["trainer.max_epochs=3", "logger=none", "trainer.log_histograms=false"], run_dir=tmp_path)
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt"]  # no partial file left
    assert checkpoint.load(folder / "last.ckpt")["epoch"] == 1


def test_partial_writes_of_a_killed_run_are_removed_when_a_run_writes_there(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / ".last.ckpt.12345.tmp").write_bytes(b"half")
    api.train(["trainer.max_epochs=1", "logger=none", "trainer.log_histograms=false"], run_dir=tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt", "weights.pt"]


KILLED = textwrap.dedent("""
    import os, signal, sys, torch
    from pathlib import Path
    from dltrain import api
    from dltrain.checkpoint import files

    root, when, overrides = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    os.environ["DLTRAIN_OUTPUT_DIR"] = str(root / "outputs")
    saves = []
    real_save, real_replace = torch.save, os.replace

    def save(obj, handle, *args, **kwargs):
        saves.append(obj["epoch"])
        if when == "mid-file" and obj["epoch"] == 2:
            handle.write(b"half a checkpoint")  # the background writer is inside the file...
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)  # ...when the machine takes the job back
        return real_save(obj, handle, *args, **kwargs)

    def replace(src, dst):
        real_replace(src, dst)
        if when.startswith("after-best") and os.path.basename(dst) == "best.ckpt" and saves[-1] == int(when[-1]):
            os.kill(os.getpid(), signal.SIGKILL)  # best.ckpt is in place, last.ckpt not yet

    files.torch.save, files.os.replace = save, replace
    api.train(overrides, run_dir=root / "outputs" / "mlp_digits" / "killed")
""")


def killed_then_resumed(tmp_path, when: str, reference) -> None:
    result = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path), when, *RUN], capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    resumed = run_dltrain(*RUN, "ckpt_path=last", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    finished_like(run_dirs(tmp_path, "mlp_digits")[-1], reference)


@pytest.mark.slow
def test_a_kill_while_the_background_writer_is_mid_file_resumes_exactly_from_the_previous_checkpoint(
        tmp_path, uninterrupted):  # noqa: F811
    killed_then_resumed(tmp_path, "mid-file", uninterrupted)
    killed = tmp_path / "outputs" / "mlp_digits" / "killed" / "checkpoints"  # continued in its own directory
    # the partial file is gone; weights.pt is written when the resumed run ends
    assert sorted(p.name for p in killed.iterdir()) == ["best.ckpt", "last.ckpt", "weights.pt"]


@pytest.mark.slow
def test_a_kill_between_best_and_last_never_loses_the_best_weights(tmp_path, uninterrupted):  # noqa: F811
    reference = json.loads((uninterrupted / "results.json").read_text())
    assert reference["best_epoch"] >= 2  # the kill comes in the write of an epoch that improved
    killed_then_resumed(tmp_path, f"after-best-{reference['best_epoch']}", uninterrupted)
