"""The data-module interface the trainer relies on.

A data module owns three datasets (train / val / test) and turns them into
loaders. Shuffling uses a generator seeded with ``seed + epoch``, so an epoch's
order depends only on the seed and the epoch number: a resumed run sees the
same batches as an uninterrupted one without saving any loader state.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


class DataModule:
    """Base class: subclasses fill ``train_dataset``, ``val_dataset``, ``test_dataset`` in ``setup``."""

    collate_fn: Callable[[list[Any]], Any] | None = None

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = True,
        seed: int = 0,
        eval_batch_size: int | None = None,
        drop_last: bool = False,
    ) -> None:
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.seed = seed
        self.drop_last = drop_last
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None

    def setup(self) -> None:
        """Load or generate the datasets; raise ``UserError`` when they cannot be had."""
        raise NotImplementedError

    def train_dataloader(self, epoch: int = 0) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return self._loader(self.train_dataset, self.batch_size, shuffle=True,
                            generator=generator, drop_last=self.drop_last)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_dataset or self.val_dataset, self.eval_batch_size, shuffle=False)

    def _loader(self, dataset: Dataset | None, batch_size: int, **kwargs: Any) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before its loaders are built")
        workers = self.num_workers
        return DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            collate_fn=self.collate_fn,
            **kwargs,
        )
