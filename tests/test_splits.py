"""dltrain's splits are scikit-learn's train_test_split, draw for draw (so every earlier result stands)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from dltrain.data.core.splits import split, train_val_test


@pytest.mark.parametrize("seed", [0, 1, 42, 1234])
@pytest.mark.parametrize("n, classes", [(1797, 10), (569, 2), (188, 2), (50, 3), (31, 7)])
@pytest.mark.parametrize("test_size", [0.15, 0.3, 0.5])
def test_stratified_and_plain_splits_equal_train_test_split(seed, n, classes, test_size):
    rng = np.random.default_rng(seed + n)
    labels = np.concatenate([np.arange(classes), np.arange(classes), rng.integers(0, classes, n - 2 * classes)])
    rng.shuffle(labels)
    items = list(range(100, 100 + n))
    for stratify in (labels, None):
        try:
            theirs = train_test_split(items, test_size=test_size, stratify=stratify, random_state=seed)
        except ValueError:  # too few test samples for every class: refused by both
            with pytest.raises(ValueError):
                split(items, test_size=test_size, seed=seed, stratify=stratify)
            continue
        assert split(items, test_size=test_size, seed=seed, stratify=stratify) == (theirs[0], theirs[1])


@pytest.mark.parametrize("size", [10, 37, 100])
def test_a_training_set_of_a_given_size_equals_train_test_split(size):
    labels = np.arange(300) % 10
    ours = split(list(range(300)), train_size=size, seed=3, stratify=labels)
    theirs = train_test_split(list(range(300)), train_size=size, stratify=labels, random_state=3)
    assert ours == (list(theirs[0]), list(theirs[1]))


def test_train_val_test_takes_the_test_split_first_as_the_data_modules_did():
    labels = np.arange(1797) % 10
    train, val, test = train_val_test(list(range(1797)), 0.15, 0.15, seed=42, stratify=labels)
    rest, expected_test = train_test_split(list(range(1797)), test_size=0.15, stratify=labels, random_state=42)
    expected_train, expected_val = train_test_split(rest, test_size=0.15 / 0.85, stratify=labels[rest],
                                                    random_state=42)
    assert (train, val, test) == (expected_train, expected_val, expected_test)
    assert sorted(train + val + test) == list(range(1797))


def test_impossible_splits_are_refused_like_scikit_learn():
    with pytest.raises(ValueError, match="only 1 member"):
        split(list(range(10)), test_size=0.3, stratify=[0] * 9 + [1])
    with pytest.raises(ValueError, match="test_size=1.5"):
        split(list(range(10)), test_size=1.5)


def test_digits_are_read_as_scikit_learn_reads_them():
    from sklearn.datasets import load_digits as sklearn_digits

    from dltrain.data.vision.digits import load_digits

    images, labels = load_digits()
    reference = sklearn_digits()
    assert np.array_equal(images, reference.images) and np.array_equal(labels, reference.target)
