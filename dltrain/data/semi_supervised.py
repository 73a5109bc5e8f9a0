"""Semi-supervised data: a classification data module with most training labels hidden.

The wrapper keeps ``labeled_fraction`` of the base module's training labels
(stratified, so every class keeps its share; fixed by ``seed``) and yields
training batches as dicts with both kinds of images:

    {"labeled": (B, C, H, W), "label": (B,),             # images of the labelled subset
     "unlabeled": (B, C, H, W), "unlabeled_2": (B, C, H, W)}  # two views of the same images

The unlabelled stream runs over the WHOLE training split (labels unused), so
an epoch is one pass over all training images; the labelled stream cycles
through the small labelled subset in a fresh order each epoch (seed + epoch),
so every batch holds B labelled images however few labels there are.
"unlabeled" and "unlabeled_2" are two independent draws of the base module's
training augmentation: the two stochastic views the consistency losses compare.

``labeled_only=true`` makes it a plain supervised data module over the
labelled subset alone ((image, label) batches): the "same labels, no
unlabelled data" baseline, and the small data budget for distillation.
Validation and test splits are the base module's, with all their labels.
"""
from __future__ import annotations

import logging

import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, Dataset, Subset

from dltrain.data.base import DataModule
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
    kept, _ = train_test_split(list(range(len(labels))), train_size=size, stratify=labels.numpy(),
                               random_state=seed)
    return sorted(kept)


class TwoStreamDataset(Dataset):
    """Item i: two views of training image i, plus labelled image ``labeled_order[i]`` and its label."""

    def __init__(self, train: Dataset, labeled_order: list[int]) -> None:
        self.train, self.labeled_order = train, labeled_order

    def __len__(self) -> int:
        return len(self.train)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        first, _ = self.train[index]  # each access draws a fresh augmentation
        second, _ = self.train[index]
        labeled, label = self.train[self.labeled_order[index]]
        return {"labeled": labeled, "label": torch.as_tensor(label), "unlabeled": first, "unlabeled_2": second}


class SemiSupervisedData(DataModule):
    def __init__(
        self,
        base: DataModule,
        num_classes: int,
        in_channels: int,
        image_size: int,
        labeled_fraction: float = 0.1,
        labeled_only: bool = False,
        **loader_options,
    ) -> None:
        if not 0 < labeled_fraction <= 1:
            raise UserError(f"data.labeled_fraction={labeled_fraction} must be in (0, 1], e.g. 0.1 for 10% labels.")
        super().__init__(**loader_options)
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
        repeats = -(-len(self.train_dataset) // len(self.labeled_index))  # ceil: enough to pair every image
        order = torch.cat([torch.randperm(len(self.labeled_index), generator=generator) for _ in range(repeats)])
        labeled_order = [self.labeled_index[i] for i in order.tolist()]
        return self._loader(TwoStreamDataset(self.train_dataset, labeled_order), self.batch_size, shuffle=True,
                            generator=generator, drop_last=self.drop_last)

    @property
    def is_semi_supervised(self) -> bool:
        return not self.labeled_only
