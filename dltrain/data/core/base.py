"""The data-module interface the trainer relies on.

A data module owns three datasets (train / val / test) and turns them into
loaders. Shuffling uses a generator seeded with ``seed + epoch``, so an epoch's
order depends only on the seed and the epoch number: a resumed run sees the
same batches as an uninterrupted one without saving any loader state.

Two loaders, chosen by ``data.loader``:

* ``classic`` (default): ``torch.utils.data.DataLoader`` and per-sample
  transforms, tuned from the data config (docs/performance.md, "Input
  pipeline"): ``num_workers``, ``pin_memory``, ``persistent_workers``,
  ``prefetch_factor``. The train loader is built anew each epoch on purpose:
  its workers are then seeded from the seed + epoch generator, so random
  augmentations in workers are a function of the epoch too (exact resume).
  Evaluation loaders have no randomness, so they are kept and reuse their
  workers (``persistent_workers``).
* ``device``: the whole dataset on the training device, batched and augmented
  there (``device_loader.py``), for modules that set ``supports_device_loader``
  and state a ``device_recipe``.

Under DDP the trainer sets ``shards`` (``dltrain/engine/sharding.py``) and every loader
gives this rank its slice.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from dltrain.errors import UserError

LOADERS = ("classic", "device")


class DataModule:
    """Base class: subclasses fill ``train_dataset``, ``val_dataset``, ``test_dataset`` in ``setup``."""

    collate_fn: Callable[[list[Any]], Any] | None = None
    supports_device_loader = False  # True where device_recipe() is implemented and the datasets are arrays
    # mode=predict reads image files for a checkpoint's data unless its module names the suffixes of the files
    # it reads itself (arrays, tables, text lines), with prediction_samples
    prediction_suffixes: tuple[str, ...] = ()

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        prefetch_factor: int = 2,
        seed: int = 0,
        eval_batch_size: int | None = None,
        drop_last: bool = False,
        loader: str = "classic",
        device: str = "auto",
    ) -> None:
        if loader not in LOADERS:
            raise UserError(f"data.loader={loader} is not one of {', '.join(LOADERS)}.")
        if loader == "device" and not self.supports_device_loader:
            from dltrain.data.core.device_loader import ON_DEVICE_DATASETS

            raise UserError(
                f"data.loader=device needs a dataset held in memory as image arrays; {type(self).__name__} is "
                f"not one. The on-device loader serves data={ON_DEVICE_DATASETS}; use data.loader=classic here."
            )
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory, self.persistent_workers, self.prefetch_factor = pin_memory, persistent_workers, prefetch_factor
        self.seed = seed
        self.drop_last = drop_last
        self.loader, self.device = loader, device
        self.shards: Any = None  # dltrain.engine.sharding.Shards, set by the trainer under DDP
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None
        self._eval_loaders: dict[str, tuple[Any, Any, DataLoader]] = {}  # split -> (dataset, shards, loader)
        self._on_device: Any = None

    def setup(self) -> None:
        """Load or generate the datasets; raise ``UserError`` when they cannot be had."""
        raise NotImplementedError

    def facts(self) -> dict[str, Any]:
        """What ``setup`` found out about the data, as config keys: ``num_classes``, ``class_names``,
        ``in_channels``, ``image_size``, ``seq_len``, ``num_features``, ``vocab_size``, ``task``, the
        standardisation numbers... The run builder writes them into ``cfg.data`` before the model is built
        (dltrain/launch/data_facts.py), so model configs read them by interpolation and the checkpoint's
        config keeps them. A module whose config states every fact itself returns nothing."""
        return {}

    def prediction_samples(self, files: list[Any]) -> Any:
        """``mode=predict``: the examples in ``files`` (paths with one of ``prediction_suffixes``) as a
        ``dltrain.predict.records.SampleBatch``, prepared as the training inputs were. The module is built
        from the checkpoint's config and not set up: what it needs (vocabulary, standardisation) is in its facts."""
        raise NotImplementedError

    def device_recipe(self) -> Any:
        """A ``device_loader.DeviceRecipe`` (mean, std, image size, augment) for ``data.loader=device``."""
        raise NotImplementedError

    def train_dataloader(self, epoch: int = 0) -> Any:
        if self.loader == "device":
            return self._device().loader("train", self.train_dataset, self.batch_size, self.shards,
                                         seed=self.seed + epoch, drop_last=self.drop_last)
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return self._loader(self.train_dataset, self.batch_size, shuffle=True,
                            generator=generator, drop_last=self.drop_last)

    def val_dataloader(self) -> Any:
        return self._eval_loader("val", self.val_dataset)

    def test_dataloader(self) -> Any:
        return self._eval_loader("test", self.test_dataset or self.val_dataset)

    def _eval_loader(self, split: str, dataset: Dataset | None) -> Any:
        if self.loader == "device":
            return self._device().loader(split, dataset, self.eval_batch_size, self.shards)
        # kept while the split's dataset (k-fold swaps it) and the sharding stay the same
        kept = self._eval_loaders.get(split)
        if kept is not None and kept[0] is dataset and kept[1] is self.shards:
            return kept[2]
        loader = self._loader(dataset, self.eval_batch_size, shuffle=False)
        self._eval_loaders[split] = (dataset, self.shards, loader)
        return loader

    def _device(self) -> Any:
        if self._on_device is None:
            from dltrain.data.core.device_loader import OnDevice

            self._on_device = OnDevice(self.device, self.device_recipe(), type(self).__name__)
        return self._on_device

    def _loader(self, dataset: Dataset | None, batch_size: int | None, train: bool = False,
                **kwargs: Any) -> DataLoader:
        """A DataLoader with this module's tuning options (and this rank's sampler under DDP). ``train``: a
        training loader over a dataset already in the epoch's order (``shuffle=True`` says so for the others)."""
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before its loaders are built")
        if self.shards is not None:
            kwargs = self.shards.loader_options(dataset, train=train, **kwargs)
        workers = self.num_workers
        return DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and workers > 0,
            prefetch_factor=self.prefetch_factor if workers > 0 else None,
            collate_fn=self.collate_fn,
            **kwargs,
        )
