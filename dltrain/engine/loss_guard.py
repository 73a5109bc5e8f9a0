"""The loss guard: a run whose training loss became NaN or infinite, or grew by orders of magnitude, stops at
once, naming the step.

Growth is measured against the first step's loss (the untrained model's): ``trainer.loss_explosion_factor`` (10^4 by
default; null turns it off) times that (at least 0.01, so a loss that starts near zero has room) ends the run.
Real training curves go down or wobble by a few times (a GAN's discriminator loss); 10^4 is divergence (Adam at
lr=1e6 reaches 1e21 within a hundred steps).

The losses of a logging interval are kept on the device and checked together when the interval ends (one
synchronisation per interval, not per step); no checkpoint is written after a bad step, so the last good
``last.ckpt`` stays as it was.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dltrain.errors import UserError


class LossGuard:
    def __init__(self, dist: Any, checkpoint_folder: Path, explosion_factor: float | None = 1e4) -> None:
        self.dist, self.checkpoint_folder, self.explosion_factor = dist, checkpoint_folder, explosion_factor
        self.window: list[tuple[int, torch.Tensor]] = []  # (step, loss) since the last check
        self.reference: float | None = None  # |loss| of the first step

    def add(self, step: int, loss: torch.Tensor) -> None:
        self.window.append((step, loss.detach()))

    def check(self, epoch: int) -> float | None:
        """Raise ``UserError`` on the first non-finite loss of the window (``epoch`` 1-based, for the message);
        otherwise empty the window and return its last loss (under DDP averaged over ranks, so a NaN on any
        rank stops all of them)."""
        window, self.window = self.window, []
        if not window:
            return None
        losses = self.dist.mean(torch.stack([loss for _, loss in window]).float())
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad) == 0:
            if self.reference is None:  # the very first loss, of the untrained model
                self.reference = max(abs(losses[0].item()), 0.01)
            if self.explosion_factor is None:
                return losses[-1].item()
            bad = (losses.abs() > self.explosion_factor * self.reference).nonzero()
            if len(bad) == 0:
                return losses[-1].item()
            growth = f" (from {self.reference:.3g} at the start: it diverges)"
        else:
            growth = ""
        first = int(bad[0])
        last = self.checkpoint_folder / "last.ckpt"
        kept = f"the last good checkpoint {last} is intact" if last.exists() else "no checkpoint was written"
        off = " or set trainer.loss_explosion_factor=null to let it run" if growth else ""
        raise UserError(
            f"The training loss became {losses[first].item():.4g} at step {window[first][0]} (epoch {epoch}){growth}; "
            f"{kept}. Lower optimizer.lr, set trainer.gradient_clip_val=1.0, or use trainer.precision=32{off}."
        )
