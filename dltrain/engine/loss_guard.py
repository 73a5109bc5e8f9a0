"""The loss guard: a run whose training loss became NaN or infinite stops at once, naming the step.

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
    def __init__(self, dist: Any, checkpoint_folder: Path) -> None:
        self.dist, self.checkpoint_folder = dist, checkpoint_folder
        self.window: list[tuple[int, torch.Tensor]] = []  # (step, loss) since the last check

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
            return losses[-1].item()
        first = int(bad[0])
        last = self.checkpoint_folder / "last.ckpt"
        kept = f"the last good checkpoint {last} is intact" if last.exists() else "no checkpoint was written"
        raise UserError(
            f"The training loss became {losses[first].item()} at step {window[first][0]} (epoch {epoch}); {kept}. "
            "Lower optimizer.lr, set trainer.gradient_clip_val=1.0, or use trainer.precision=32."
        )
