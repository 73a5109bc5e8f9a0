"""Which samples each DDP process loads: DistributedSampler's split over the project's own epoch order.

A training epoch's order is ``torch.randperm(n)`` drawn from the loader's
generator (seeded ``seed + epoch``), exactly what a single-process shuffled
loader draws. That order is padded to a multiple of the world size and rank
``r`` takes every ``world``-th index starting at ``r`` (as
``torch.utils.data.DistributedSampler`` does), so with ``W`` processes of
batch ``B`` the global batch ``k`` holds the same samples as batch ``k`` of a
single process with batch ``W * B``. Every rank gets the same number of
batches, which DDP needs (one gradient all-reduce per step on every rank).

Evaluation splits are not padded (a duplicated sample would count twice in the
metrics): rank ``r`` takes indices ``r, r + W, ...`` in order, and the task's
metric sums are all-reduced afterwards (``dltrain.engine.distributed``). They are
sharded only when the task says how to reduce its metrics; otherwise every rank
evaluates the whole split, which is exact too, only redundant.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Sampler


class ShardSampler(Sampler[int]):
    def __init__(self, size: int, rank: int, world_size: int, generator: torch.Generator | None = None,
                 pad: bool = True) -> None:
        self.size, self.rank, self.world_size = size, rank, world_size
        self.generator, self.pad = generator, pad

    def __iter__(self) -> Iterator[int]:
        # drawn lazily, as RandomSampler does: the DataLoader first draws its worker seed from the same generator
        order = torch.randperm(self.size, generator=self.generator).tolist() if self.generator else list(range(self.size))
        if self.pad and order:
            padded = math.ceil(self.size / self.world_size) * self.world_size
            order = (order * math.ceil(padded / self.size))[:padded]
        return iter(order[self.rank::self.world_size])

    def __len__(self) -> int:
        if self.pad:
            return math.ceil(self.size / self.world_size)
        return len(range(self.rank, self.size, self.world_size))


class Shards:
    """Set on a data module by the trainer under DDP (``data.shards``); ``DataModule._loader`` asks it for
    the sampler of every loader it builds."""

    def __init__(self, rank: int, world_size: int, shard_eval: bool) -> None:
        self.rank, self.world_size, self.shard_eval = rank, world_size, shard_eval

    def loader_options(self, dataset: Any, shuffle: bool = False, generator: torch.Generator | None = None,
                       train: bool = False, **options: Any) -> dict[str, Any]:
        """DataLoader keyword arguments with ``shuffle`` replaced by this rank's ``sampler``. Training loaders
        are ``shuffle=True``, or ``train=True`` for a dataset already in the epoch's order (pre-made batches):
        both are padded, so every rank gets the same number of batches."""
        size = len(dataset)
        if shuffle or train:  # the generator stays on the loader too, so worker seeds are still seed + epoch
            sampler = ShardSampler(size, self.rank, self.world_size, generator if shuffle else None, pad=True)
            return {**options, "sampler": sampler, "generator": generator}
        if self.shard_eval and size >= self.world_size:
            return {**options, "sampler": ShardSampler(size, self.rank, self.world_size, pad=False)}
        return {**options, "shuffle": False, "generator": generator}


def is_sharded(loader: Any) -> bool:
    """Did this loader give this rank only its slice (so metrics must be reduced across ranks)?"""
    return isinstance(getattr(loader, "sampler", None), ShardSampler)
