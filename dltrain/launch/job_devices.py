"""Which GPU each job of a parallel local sweep trains on (``hydra/launcher=joblib``).

    dltrain -m hydra/launcher=joblib hydra.launcher.n_jobs=4 optimizer.lr=0.01,0.03,0.1,0.3

The joblib launcher runs jobs in a pool of worker processes that it reuses:
a worker that ran job 0 may run job 4 next. An environment variable set per
job, such as ``CUDA_VISIBLE_DEVICES``, therefore has no effect (CUDA reads it
once, when a worker first touches the GPU), so each job picks its device
inside itself, at its start:

    job number j on a machine with G visible GPUs -> cuda:(j mod G)

With ``n_jobs`` equal to G that is one job per GPU at any time (jobs start in
order as workers free up, so the running ones hold distinct numbers modulo G
as long as they finish in order; when they do not, two jobs can share a GPU
for a while: correct, only slower). With more jobs than GPUs, GPUs are shared.
The job selects the device with ``torch.cuda.set_device``, so everything the
trainer and the on-device loader put on ``cuda`` lands there. ``trainer=cpu``
jobs and machines without CUDA are left alone.

Sequential launchers (the default ``basic``) and SLURM jobs (``submitit``,
where SLURM gives each job its own GPUs) need none of this: the callback acts
only under the joblib launcher.
"""
from __future__ import annotations

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def job_device_index(job_num: int, device_count: int) -> int | None:
    """The CUDA device of sweep job ``job_num`` among ``device_count`` GPUs; None without GPUs."""
    if device_count <= 0:
        return None
    return job_num % device_count


class AssignJobDevice(Callback):
    """Hydra callback (configs/hydra/default.yaml): under the joblib launcher, select the job's GPU."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if "joblib" not in str(config.hydra.launcher.get("_target_", "")):
            return
        if str(config.get("trainer", {}).get("accelerator", "auto")) == "cpu":
            return
        import torch

        index = job_device_index(int(config.hydra.job.num), torch.cuda.device_count())
        if index is not None:
            torch.cuda.set_device(index)
            log.info("sweep job %s trains on cuda:%d", config.hydra.job.num, index)
