"""Preemption: SIGTERM / SIGUSR1 become a resumable mid-epoch checkpoint and a clean exit.

A cluster that takes the machine back (SLURM preemption, the time limit, a
spot instance) sends SIGTERM, or the signal asked for with ``--signal``, and
kills the job some seconds later. The handler below only sets a flag; the
trainer checks it once per optimizer step, writes ``last.ckpt`` with the
loader position (epoch, batches already trained on), the RNG states and
everything an epoch-end checkpoint holds, then raises ``Preempted``. The
command line turns that into exit status ``PREEMPTED_EXIT_CODE`` (75,
EX_TEMPFAIL: "try again later"), and the resubmitted ``dltrain ... ckpt_path=last``
continues exactly where the signal stopped it.

Under DDP the ranks may see the signal at different steps; ``dltrain.engine.distributed``
makes them agree on one step before anyone saves.

Ctrl-C (SIGINT) is handled the same way while a run trains: the mid-epoch
checkpoint is saved and the command exits 130 with the resume command; a
second Ctrl-C stops at once (KeyboardInterrupt).
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dltrain.engine.callbacks import Callback
from dltrain.errors import UserError

if TYPE_CHECKING:
    from dltrain.engine.trainer import Trainer
    from dltrain.tasks.base import Task

PREEMPTED_EXIT_CODE = 75  # sysexits.h EX_TEMPFAIL: a temporary failure, the job should be run again
INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, what shells report for Ctrl-C


class Preempted(Exception):
    """Raised by the trainer after the preemption checkpoint is written (``checkpoint``: its path, or None)."""

    def __init__(self, message: str, checkpoint: Path | None, signal_name: str | None = None) -> None:
        super().__init__(message)
        self.checkpoint, self.signal_name = checkpoint, signal_name

    @property
    def by_user(self) -> bool:
        """Ctrl-C: the user stopped the run (exit 130), the cluster did not take the machine back (75)."""
        return self.signal_name == "SIGINT"


class Preemption:
    """The signal handler's flag. ``requested`` is what the training loop reads, once per optimizer step."""

    def __init__(self, signals: Sequence[str] = ("SIGTERM", "SIGUSR1")) -> None:
        self.signals = list(dict.fromkeys([_signal(name) for name in signals] + [signal.SIGINT]))
        self.received: str | None = None  # the signal this process got (set inside the handler)
        self.requested = False  # stop at the next optimizer step (under DDP: once all ranks agreed)
        self.decide_locally = True  # False under DDP: the ranks agree first (dltrain.engine.distributed)

    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        """Install the handlers for the duration of ``fit`` and restore the previous ones afterwards."""
        if threading.current_thread() is not threading.main_thread():  # Python delivers signals to the main thread only
            yield
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in self.signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        # a handler may run between any two bytecodes: set flags only, no logging or I/O here
        if signum == signal.SIGINT and self.received == "SIGINT":
            raise KeyboardInterrupt  # Ctrl-C twice: stop now, without the checkpoint
        self.received = signal.Signals(signum).name
        if self.decide_locally:
            self.requested = True


def _signal(name: str) -> signal.Signals:
    sig = getattr(signal, str(name).upper(), None)
    if not isinstance(sig, signal.Signals):
        raise UserError(f"trainer.preemption_signals lists {name}, which this system has no signal of that name for; "
                        "use SIGTERM and / or SIGUSR1, or [] to turn preemption checkpoints off.")
    return sig


class SignalAtStep(Callback):
    """Send this process a real signal after optimizer step ``step`` (optionally on one DDP rank only).

    A fault-injection tool: it makes preemption reproducible, for the tests and for checking a cluster
    script's requeue logic, e.g. ``+callbacks.kill._target_=dltrain.engine.preemption.SignalAtStep +callbacks.kill.step=50``.
    """

    def __init__(self, step: int, signal: str = "SIGTERM", rank: int | None = None) -> None:
        self.step, self.signal, self.rank = step, _signal(signal), rank

    def on_train_step_end(self, trainer: Trainer, task: Task) -> None:
        if trainer.global_step == self.step and self.rank in (None, trainer.dist.rank):
            os.kill(os.getpid(), self.signal)
