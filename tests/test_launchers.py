"""Sweeps beyond one process: parallel local jobs (hydra/launcher=joblib) and SLURM arrays (hydra/launcher=slurm)."""
from __future__ import annotations

import csv
import json
import os
import shlex
import shutil

import pytest
import submitit
import torch
from helpers import run_dirs
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from dltrain.engine.preemption import PREEMPTED_EXIT_CODE
from dltrain.launch.config import CONFIG_DIR
from dltrain.launch.job_devices import AssignJobDevice, job_device_index
from dltrain.launch.sweep import job_reports_back


def test_job_devices_go_round_robin_over_the_gpus():
    assert [job_device_index(job, 2) for job in range(5)] == [0, 1, 0, 1, 0]
    assert [job_device_index(job, 3) for job in range(4)] == [0, 1, 2, 0]
    assert job_device_index(7, 1) == 0
    assert job_device_index(0, 0) is None and job_device_index(5, 0) is None  # no GPU: nothing to assign


def hydra_config(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    GlobalHydra.instance().clear()
    return cfg


@pytest.mark.parametrize("launcher, accelerator, selected", [
    ("joblib", "auto", [(5, 1)]),  # job 5 on a 4-GPU machine -> cuda:1
    ("basic", "auto", []),         # sequential jobs in one process: the trainer's own choice stands
    ("joblib", "cpu", []),         # trainer=cpu jobs never touch CUDA
])
def test_the_callback_selects_the_jobs_gpu_only_under_joblib(monkeypatch, launcher, accelerator, selected):
    calls = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: calls.append((5, index)))
    cfg = hydra_config(f"hydra/launcher={launcher}", f"trainer.accelerator={accelerator}")
    with open_dict(cfg):
        cfg.hydra.job.num = 5
    AssignJobDevice().on_job_start(config=cfg)
    assert calls == selected


def test_the_callback_is_registered_for_every_run():
    targets = [c._target_ for c in hydra_config().hydra.callbacks.values()]
    assert "dltrain.launch.job_devices.AssignJobDevice" in targets and "dltrain.launch.sweep.SweepSummary" in targets


def test_joblib_multirun_runs_two_jobs_in_parallel_and_writes_the_summary(cli):
    result = cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optimizer=sgd,adam",
                 "trainer.max_epochs=1", "trainer.log_histograms=false", "logger=none")
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    # one sweep folder: the jobs, run in other processes, agree on its name (time stamp and run id)
    (sweep,) = (cli.root / "outputs" / "mlp_digits" / "multirun").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")) == ["0", "1"]
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [row["overrides"].split()[0] for row in rows] == ["optimizer=sgd", "optimizer=adam"]
    assert all(0.1 < float(row["test/acc"]) <= 1.0 and row["best_epoch"] == "1" for row in rows)


@pytest.mark.slow
def test_a_failed_joblib_job_leaves_the_parallel_jobs_running_to_their_end(cli):
    result = cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optimizer=sgd",
                 "optimizer.lr=1e6,0.01,0.02", "trainer.max_epochs=2", "trainer.log_histograms=false", "logger=none",
                 ok=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    (sweep,) = (cli.root / "outputs" / "mlp_digits" / "multirun").iterdir()
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [row["status"] for row in rows] == ["failed", "finished", "finished"]
    assert all(row["best_epoch"] == "2" for row in rows[1:])  # job 1 ran beside the failing job to its end


@pytest.mark.parametrize("mode, launcher, reports_back", [
    (RunMode.MULTIRUN, "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher", True),
    (RunMode.MULTIRUN, "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", True),
    (RunMode.MULTIRUN, "hydra._internal.core_plugins.basic_launcher.BasicLauncher", False),  # the sweep's own process
    (RunMode.RUN, "hydra._internal.core_plugins.basic_launcher.BasicLauncher", False),
])
def test_only_jobs_in_processes_of_their_own_return_from_a_preemption(mode, launcher, reports_back):
    hydra_cfg = OmegaConf.create({"mode": mode, "launcher": {"_target_": launcher}})
    assert job_reports_back(hydra_cfg) is reports_back


def test_a_preempted_sweep_job_is_summarised_with_the_command_that_resumes_it_exactly(cli):
    # submitit's local executor runs each job as a SLURM node does (a process of its own, pickled in and out);
    # job 0 gets the SIGUSR1 that slurm.yaml asks SLURM to send before the time limit, job 1 is never signalled
    result = cli("-m", "hydra/launcher=submitit_local", "trainer.max_epochs=2", "trainer.log_histograms=false",
                 "logger=none", "+callbacks.kill._target_=dltrain.engine.preemption.SignalAtStep",
                 "+callbacks.kill.signal=SIGUSR1", "+callbacks.kill.step=5,1000000", ok=False)
    assert result.returncode == PREEMPTED_EXIT_CODE and "Traceback" not in result.stderr, result.stderr[-3000:]
    (sweep,) = (cli.root / "outputs" / "mlp_digits" / "multirun").iterdir()
    preempted, finished = csv.DictReader((sweep / "summary.csv").open())
    assert preempted["status"] == "preempted" and finished["status"] == "finished" and finished["best_epoch"] == "2"
    assert preempted["resume"] in result.stdout  # also said on the console
    assert (sweep / "0" / "checkpoints" / "last.ckpt").exists() and not (sweep / "0" / "results.json").exists()

    cli(*shlex.split(preempted["resume"])[1:])  # the printed command, as a user pastes it
    (resumed,) = run_dirs(cli.root, "mlp_digits")
    resumed_results = json.loads((resumed / "results.json").read_text())
    uninterrupted = json.loads((sweep / "1" / "results.json").read_text())
    assert resumed_results["final"]["val/loss"] == uninterrupted["final"]["val/loss"]
    assert resumed_results["test"] == uninterrupted["test"]


def test_slurm_launcher_config_builds_the_sbatch_array_it_documents(monkeypatch, tmp_path):
    monkeypatch.setenv("DLTRAIN_SLURM_PARTITION", "gpu-a100")
    monkeypatch.delenv("DLTRAIN_SLURM_ACCOUNT", raising=False)
    cfg = hydra_config("hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert cfg.hydra.launcher.partition == "gpu-a100" and cfg.hydra.launcher.account is None
    assert cfg.hydra.launcher.gpus_per_node == 1 and cfg.hydra.launcher.timeout_min == 240
    # the plugin's own launch(), stopped where it would call sbatch: the executor it built writes the script
    # (submitit checks that it runs on a cluster by finding `srun`: give it one that does nothing)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    executors = []
    monkeypatch.setattr(submitit.AutoExecutor, "map_array", lambda self, fn, *args: executors.append(self) or [])
    launcher_config = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    launcher = instantiate({"_target_": launcher_config.pop("_target_")}, **launcher_config)
    launcher.setup(hydra_context=None, task_function=None, config=cfg)
    launcher.launch([["optimizer.lr=0.1"], ["optimizer.lr=0.3"]], initial_job_idx=0)
    script = executors[0]._executor._make_submission_file_text("python -m submitit.core._submit", "0")
    for line in ("--partition=gpu-a100", "--gpus-per-node=1", "--time=240", "--signal=USR1@120",
                 "--cpus-per-task=8", "--mem=32GB", "--ntasks-per-node=1", "--nodes=1"):
        assert line in script, line
    assert "USR2" not in script  # the trainer handles SIGTERM / SIGUSR1, not submitit's default signal
    assert "--account" not in script  # unset: the user's default account


@pytest.mark.skipif(shutil.which("srun") is not None, reason="this machine is a SLURM client: it would submit")
def test_slurm_launcher_without_slurm_says_so_in_one_sentence(cli):
    result = cli("-m", "hydra/launcher=slurm", "optimizer=sgd,adam", ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no SLURM client" in result.stderr and "hydra/launcher=joblib" in result.stderr
