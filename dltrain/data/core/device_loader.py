"""The on-device loader (``data.loader=device``): the whole dataset lives on the training device.

For datasets that fit in memory (digits, MNIST, Fashion-MNIST, CIFAR-10/100,
the generated segmentation shapes) the uint8 images are moved to the device
once; every batch is then an ``index_select`` of that tensor, augmented and
normalised in batch there (``batch_augment``). No worker processes, no
per-sample Python, no host-to-device copy per step: on a GPU the input
pipeline costs a handful of kernels per batch.

Which device: the data config's ``device`` key, which the shipped configs set
to ``${trainer.accelerator}``, so the data follows the trainer (``auto``: cuda >
mps > cpu, resolved by the trainer's own ``pick_device``). ``cuda`` means the
process's current CUDA device, the one the trainer's model goes to (a joblib
sweep job or a torchrun rank selects it with ``torch.cuda.set_device``).
``data.device=cpu`` keeps the data in host memory; on a CPU-only machine that is
simply the fast path (batched tensor ops instead of per-sample transforms).

When: the arrays move when training starts, at the trainer's first
``train_dataloader`` call. Before that the loaders serve batches from host
memory, like the classic loader: the model / data check that runs before the
trainer exists puts a batch through the model while the model is still on the
CPU, the trainer (and under DDP its process group) has not selected its device
yet, and a ``mode=eval`` run reads its one pass from host memory.

Shuffling uses a generator seeded with seed + epoch and draws from it what
the classic DataLoader draws (``epoch_permutation``), so both loaders visit the
same samples in the same order; the epoch's augmentation parameters are drawn
from it next, so an epoch is a pure function of seed + epoch and resuming needs
no loader state. Under DDP a rank takes its positions of that order from the
same ``ShardSampler`` the classic loaders use (``dltrain/engine/sharding.py``).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset

from dltrain.data.augment.batch_augment import BatchAugment, FusedNormalize
from dltrain.data.core.in_memory import ImageArrays, NotInMemory, image_arrays
from dltrain.engine.environment import pick_device
from dltrain.engine.sharding import ShardSampler
from dltrain.errors import UserError

# data configs whose datasets can live on the device (kept in one place for the error messages)
ON_DEVICE_DATASETS = "digits, mnist, fashion_mnist, cifar10, cifar100, shapes_seg"


@dataclass
class DeviceRecipe:
    """What a data module tells the on-device loader: normalisation, output size, augmentation."""

    mean: Sequence[float]
    std: Sequence[float]
    image_size: int
    augment: Mapping[str, Any] = field(default_factory=dict)
    mask_fill: int = 0  # segmentation: the ignore index, for mask pixels that crop padding creates


def resolve_device(name: str | torch.device) -> torch.device:
    """The data's device: as the trainer picks it; bare ``cuda`` pinned to the current CUDA device."""
    device = torch.device(name) if isinstance(name, torch.device) else pick_device(str(name))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def epoch_permutation(num_samples: int, generator: torch.Generator) -> torch.Tensor:
    """The order a shuffled DataLoader with this generator visits: it draws its workers' base seed from the
    generator first, then its RandomSampler draws ``randperm``. (tests/test_device_loader.py checks the match.)"""
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    return torch.randperm(num_samples, generator=generator)


class DeviceLoader:
    """Batches ``(images, targets)`` of arrays already on the device; iterable like a DataLoader.

    ``seed`` (seed + epoch) shuffles and draws the augmentations; ``None`` keeps the order (evaluation).
    ``sampler`` (a ``ShardSampler``, DDP only) names this rank's positions of the epoch's order.
    """

    def __init__(self, arrays: ImageArrays, batch_size: int, normalize: FusedNormalize,
                 augment: BatchAugment | None = None, seed: int | None = None, drop_last: bool = False,
                 sampler: ShardSampler | None = None) -> None:
        self.arrays, self.batch_size, self.normalize = arrays, batch_size, normalize
        self.augment = augment if augment is not None and augment.active else None
        self.seed, self.drop_last, self.sampler = seed, drop_last, sampler
        self.positions = (torch.tensor(list(sampler), dtype=torch.long) if sampler is not None
                          else torch.arange(len(arrays)))

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.positions) // self.batch_size
        return -(-len(self.positions) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        device = self.arrays.images.device
        count = len(self.arrays)
        if self.seed is None:
            order, plan = torch.arange(count), None
        else:
            generator = torch.Generator().manual_seed(self.seed)
            order = epoch_permutation(count, generator)
            height, width = self.arrays.images.shape[-2:]
            plan = self.augment.plan(count, height, width, generator) if self.augment else None
        # this rank's positions of the epoch; the plan's rows follow their samples
        order = order[self.positions].to(device, non_blocking=True)
        plan = plan[self.positions].to(device) if plan is not None else None
        for batch in range(len(self)):
            rows = slice(batch * self.batch_size, (batch + 1) * self.batch_size)
            index = order[rows]
            images = self.arrays.images.index_select(0, index)
            targets = self.arrays.targets.index_select(0, index)
            if plan is not None:
                images, targets = self.augment.geometry(images, targets, plan[rows])
            floats = self.normalize(images)
            if plan is not None:
                floats = self.augment.erase(floats, plan[rows])
            yield floats, targets.long()


class OnDevice:
    """A data module's splits moved to one device (once per dataset object) and their loaders."""

    def __init__(self, device: str | torch.device, recipe: DeviceRecipe, dataset_name: str) -> None:
        self.device_name = device
        self.recipe, self.dataset_name = recipe, dataset_name
        self.augment = BatchAugment.from_config(recipe.augment, recipe.mask_fill)
        self.training_started = False  # the first train loader moves the data (module docstring: "When")
        self._moved: dict[str, tuple[Dataset, ImageArrays]] = {}
        self._normalize: dict[torch.device, FusedNormalize] = {}

    @property
    def device(self) -> torch.device:
        return resolve_device(self.device_name) if self.training_started else torch.device("cpu")

    def loader(self, split: str, dataset: Dataset | None, batch_size: int, shards: Any = None,
               seed: int | None = None, drop_last: bool = False) -> DeviceLoader:
        """``shards`` (``dltrain.engine.sharding.Shards``, DDP only): train is padded to equal shards, evaluation is
        split without padding when the task can reduce its metrics, as for the classic loaders."""
        if dataset is None:
            raise RuntimeError("setup() must run before the loaders are built")
        train = split == "train"
        self.training_started = self.training_started or train
        device = self.device
        arrays = self.arrays(split, dataset, device)
        sampler = None
        if shards is not None and (train or (shards.shard_eval and len(arrays) >= shards.world_size)):
            sampler = ShardSampler(len(arrays), shards.rank, shards.world_size, pad=train)
        if device not in self._normalize:
            self._normalize[device] = FusedNormalize(self.recipe.mean, self.recipe.std, device)
        return DeviceLoader(arrays, batch_size, self._normalize[device], augment=self.augment if train else None,
                            seed=seed if train else None, drop_last=drop_last and train, sampler=sampler)

    def arrays(self, split: str, dataset: Dataset, device: torch.device) -> ImageArrays:
        """The split's arrays on ``device``; built again only when the split's dataset object changes
        (k-fold cross-validation swaps the train and val datasets per fold) or the data moves."""
        moved = self._moved.get(split)
        if moved is not None and moved[0] is dataset:
            if moved[1].images.device == device:
                return moved[1]
            return self._keep(split, dataset, ImageArrays(moved[1].images.to(device), moved[1].targets.to(device)))
        try:
            arrays = image_arrays(dataset)
        except NotInMemory as error:
            raise UserError(
                f"data.loader=device needs the whole dataset in memory, but {self.dataset_name}'s {split} split "
                f"reads its samples one by one ({error}); the on-device loader serves {ON_DEVICE_DATASETS}. "
                "Use data.loader=classic for this data."
            ) from None
        arrays = _resized(arrays, self.recipe.image_size)
        return self._keep(split, dataset, ImageArrays(arrays.images.to(device), arrays.targets.to(device)))

    def _keep(self, split: str, dataset: Dataset, arrays: ImageArrays) -> ImageArrays:
        self._moved[split] = (dataset, arrays)
        return arrays


def _resized(arrays: ImageArrays, size: int) -> ImageArrays:
    """Resize + centre crop once, as the classic transform does per image (masks by nearest neighbour)."""
    if tuple(arrays.images.shape[-2:]) == (size, size):
        return arrays
    from torchvision import tv_tensors  # here: a second to import, and in-memory data at its size needs none
    from torchvision.transforms import v2

    geometry = v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])
    images = geometry(arrays.images)
    targets = arrays.targets
    if targets.dim() == 3:
        targets = geometry(tv_tensors.Mask(targets)).as_subclass(torch.Tensor)
    return ImageArrays(images, targets)
