"""Semi-supervised data: a classification data module with most training labels hidden.

The wrapper keeps ``labeled_fraction`` of the base module's training labels
(stratified, so every class keeps its share; fixed by ``seed``) and yields
training batches as dicts with both kinds of images:

    {"labeled": (B, C, H, W), "label": (B,),                # images of the labelled subset
     "unlabeled": (U, C, H, W), "unlabeled_2": (U, C, H, W)}  # two views of the same images

B is ``batch_size`` and U is ``unlabeled_batch_size`` (default B). The
literature's recipes use U several times B: the consistency loss then sees
many images per step while the few labels are not repeated more often.
The unlabelled stream runs over the WHOLE training split (labels unused), so
an epoch is one pass over all training images in batches of U; the labelled
stream cycles through the small labelled subset in a fresh order each epoch
(seed + epoch), so every batch holds B labelled images however few labels
there are. "unlabeled" and "unlabeled_2" are two independent draws of the
base module's training augmentation (identical when it has none: the tasks
then perturb the views themselves, see dltrain/data/augment/perturbation.py).

``labeled_only=true`` makes it a plain supervised data module over the
labelled subset alone ((image, label) batches): the "same labels, no
unlabelled data" baseline, and the small data budget for distillation.
Validation and test splits are the base module's, with all their labels.
"""
from __future__ import annotations

import logging

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from dltrain.data.core.base import DataModule
from dltrain.data.core.splits import split
from dltrain.errors import UserError

log = logging.getLogger(__name__)


def dataset_labels(dataset: Dataset) -> torch.Tensor:
    """The labels of an (image, label) dataset, read without decoding images when it keeps them apart."""
    labels = getattr(dataset, "labels", None)
    if labels is None:
        labels = [dataset[i][1] for i in range(len(dataset))]
    return torch.as_tensor(labels).long()


def stratified_subset(labels: torch.Tensor, fraction: float, seed: int) -> list[int]:
    """Indices of ``fraction`` of the samples, every class keeping its share (at least one each)."""
    num_classes = int(labels.max()) + 1
    size = max(round(fraction * len(labels)), num_classes)
    if size >= len(labels):
        return list(range(len(labels)))
    kept, _ = split(list(range(len(labels))), train_size=size, seed=seed, stratify=labels.numpy())
    return sorted(kept)


class TwoStreamBatches(Dataset):
    """Item k: batch k of an epoch, from the unlabelled indices ``unlabeled[k]`` and labelled ``labeled[k]``."""

    def __init__(self, train: Dataset, unlabeled: list[list[int]], labeled: list[list[int]]) -> None:
        self.train, self.unlabeled, self.labeled = train, unlabeled, labeled

    def __len__(self) -> int:
        return len(self.unlabeled)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        # each access of the base dataset draws a fresh augmentation (when it has one)
        first = torch.stack([self.train[i][0] for i in self.unlabeled[index]])
        second = torch.stack([self.train[i][0] for i in self.unlabeled[index]])
        labeled = [self.train[i] for i in self.labeled[index]]
        return {"labeled": torch.stack([image for image, _ in labeled]),
                "label": torch.stack([torch.as_tensor(label) for _, label in labeled]),
                "unlabeled": first, "unlabeled_2": second}


class SemiSupervisedData(DataModule):
    def __init__(
        self,
        base: DataModule,
        num_classes: int,
        in_channels: int,
        image_size: int,
        labeled_fraction: float = 0.1,
        labeled_only: bool = False,
        unlabeled_batch_size: int | None = None,
        **loader_options,
    ) -> None:
        if not 0 < labeled_fraction <= 1:
            raise UserError(f"data.labeled_fraction={labeled_fraction} must be in (0, 1], e.g. 0.1 for 10% labels.")
        super().__init__(**loader_options)
        if unlabeled_batch_size is not None and unlabeled_batch_size < 1:
            raise UserError(f"data.unlabeled_batch_size={unlabeled_batch_size} must be >= 1 (or null: "
                            "data.batch_size), e.g. 4 times data.batch_size.")
        self.unlabeled_batch_size = unlabeled_batch_size or self.batch_size
        self.base = base
        self.num_classes, self.in_channels, self.image_size = num_classes, in_channels, image_size
        self.labeled_fraction, self.labeled_only = labeled_fraction, labeled_only
        self.labeled_index: list[int] = []

    def setup(self) -> None:
        self.base.setup()
        train = self.base.train_dataset
        self.labeled_index = stratified_subset(dataset_labels(train), self.labeled_fraction, self.seed)
        self.train_dataset = Subset(train, self.labeled_index) if self.labeled_only else train
        self.val_dataset, self.test_dataset = self.base.val_dataset, self.base.test_dataset
        log.info("%d of %d training labels kept (%s)", len(self.labeled_index), len(train),
                 "labelled images only" if self.labeled_only else "all images used unlabelled")

    def train_dataloader(self, epoch: int = 0) -> DataLoader:
        if self.labeled_only:
            return super().train_dataloader(epoch)
        generator = torch.Generator().manual_seed(self.seed + epoch)
        images = torch.randperm(len(self.train_dataset), generator=generator).tolist()
        unlabeled = [images[i:i + self.unlabeled_batch_size] for i in range(0, len(images), self.unlabeled_batch_size)]
        if self.drop_last and len(unlabeled) > 1 and len(unlabeled[-1]) < self.unlabeled_batch_size:
            unlabeled.pop()
        needed = len(unlabeled) * self.batch_size
        repeats = -(-needed // len(self.labeled_index))  # ceil: enough labelled images for every batch
        order = torch.cat([torch.randperm(len(self.labeled_index), generator=generator) for _ in range(repeats)])
        labeled_order = [self.labeled_index[i] for i in order.tolist()]
        labeled = [labeled_order[k * self.batch_size:(k + 1) * self.batch_size] for k in range(len(unlabeled))]
        # batch_size=None: the dataset's items are whole batches already, in this epoch's order (under DDP
        # each rank takes every world-th batch, padded: the ranks step together)
        return self._loader(TwoStreamBatches(self.train_dataset, unlabeled, labeled), None, shuffle=False, train=True)

    @property
    def is_semi_supervised(self) -> bool:
        return not self.labeled_only
