"""Seeded (stratified) splits of a data set into train / validation / test, without importing scikit-learn.

``split`` returns exactly what ``sklearn.model_selection.train_test_split(items, test_size=..., train_size=...,
stratify=labels, random_state=seed)`` returns (tests/test_splits.py compares them over many seeds, sizes and
label sets): the same NumPy generator draws in the same order. It is written out here because importing
scikit-learn costs 1-2 s, which every run of every data module paid before its first step; the splits, and
so every result measured before, stay the same.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def split(items: Sequence[Any], test_size: float | int | None = None, train_size: float | int | None = None,
          seed: int = 0, stratify: Sequence[Any] | None = None) -> tuple[list[Any], list[Any]]:
    """(train items, test items), shuffled; stratified by ``stratify`` (one label per item) when given."""
    n_train, n_test = _sizes(len(items), test_size, train_size)
    rng = np.random.RandomState(seed)
    if stratify is None:
        permutation = rng.permutation(len(items))
        train, test = permutation[n_test: n_test + n_train], permutation[:n_test]
    else:
        train, test = _stratified(np.asarray(stratify), n_train, n_test, rng)
    return [items[i] for i in train], [items[i] for i in test]


def train_val_test(items: Sequence[Any], val_fraction: float, test_fraction: float, seed: int,
                   stratify: Sequence[Any] | None = None) -> tuple[list[Any], list[Any], list[Any]]:
    """Test split first, then validation out of the rest: the fractions are of the whole set."""
    labels = None if stratify is None else np.asarray(stratify)
    rest, test = split(list(range(len(items))), test_size=test_fraction, seed=seed, stratify=labels)
    train, val = split(rest, test_size=val_fraction / (1 - test_fraction), seed=seed,
                       stratify=None if labels is None else labels[rest])
    return [items[i] for i in train], [items[i] for i in val], [items[i] for i in test]


def _sizes(n: int, test_size: float | int | None, train_size: float | int | None) -> tuple[int, int]:
    """scikit-learn's sizes: a fraction of the test set rounds up, of the training set down."""
    if test_size is None and train_size is None:
        test_size = 0.25
    for name, size in (("test_size", test_size), ("train_size", train_size)):
        fraction = isinstance(size, float)
        if size is not None and ((fraction and not 0 < size < 1) or (not fraction and not 0 < size < n)):
            raise ValueError(f"{name}={size} should be either positive and smaller than the number of samples "
                             f"{n} or a float in the (0, 1) range")
    n_test = None if test_size is None else math.ceil(test_size * n) if isinstance(test_size, float) else test_size
    n_train = None if train_size is None else math.floor(train_size * n) if isinstance(train_size, float) \
        else train_size
    n_train = n - n_test if n_train is None else n_train
    n_test = n - n_train if n_test is None else n_test
    if n_train + n_test > n or n_train == 0:
        raise ValueError(f"{n} samples cannot be split into {n_train} for training and {n_test} for testing")
    return int(n_train), int(n_test)


def _stratified(labels: np.ndarray, n_train: int, n_test: int, rng: np.random.RandomState) -> tuple[list, list]:
    """StratifiedShuffleSplit's first split: each class keeps its share, ties broken by ``rng``."""
    classes, label_index, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
    if class_counts.min() < 2:
        raise ValueError(f"the least populated class has only 1 member ({classes[class_counts < 2].tolist()}), "
                         "which is too few to split by class")
    if min(n_train, n_test) < len(classes):
        raise ValueError(f"{n_train} training and {n_test} test samples cannot hold all {len(classes)} classes")
    class_indices = np.split(np.argsort(label_index, kind="stable"), np.cumsum(class_counts)[:-1])
    train_counts = _approximate_mode(class_counts, n_train, rng)
    test_counts = _approximate_mode(class_counts - train_counts, n_test, rng)
    train, test = [], []
    for members, n_i, t_i, count in zip(class_indices, train_counts, test_counts, class_counts):
        shuffled = members.take(rng.permutation(count), mode="clip")
        train.extend(shuffled[:n_i])
        test.extend(shuffled[n_i: n_i + t_i])
    return list(rng.permutation(train)), list(rng.permutation(test))


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` each class gets: the floor of its share, then one more for the largest
    remainders (ties drawn at random)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (candidates,) = np.where(remainder == value)
            add_now = min(len(candidates), need_to_add)
            floored[rng.choice(candidates, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)
