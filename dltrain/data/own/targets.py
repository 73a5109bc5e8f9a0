"""What a target column says: classification (labels, the class names) or regression (real values).

``task_of`` decides from the values, unless ``data.task`` says: integer or text labels are classes, real
numbers a regression target. ``encode_labels`` numbers the classes 0..K-1 in the order of their names
(numbers by value, text alphabetically) and keeps the names: they are a fact of the data
(``data.class_names``), stored in the checkpoint's config, so evaluation and prediction number the
classes as training did.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dltrain.errors import UserError

CLASSIFICATION, REGRESSION = "classification", "regression"
TASKS = (CLASSIFICATION, REGRESSION)


def task_of(values: np.ndarray, given: str | None, source: str) -> str:
    """``classification`` or ``regression`` for the target ``values`` (``given``: the user's ``data.task``)."""
    if given is not None and given not in TASKS:
        raise UserError(f"data.task={given} is not one of {', '.join(TASKS)}; leave it unset to infer it from "
                        f"the target of {source}.")
    numeric = np.issubdtype(values.dtype, np.number) or values.dtype == bool
    if given == REGRESSION and not numeric:
        raise UserError(f"data.task=regression needs a numeric target, and {source} holds text labels "
                        f"(e.g. {values[0]!r}); use data.task=classification.")
    if given is not None:
        return given
    return CLASSIFICATION if not np.issubdtype(values.dtype, np.floating) else REGRESSION


def encode_labels(values: np.ndarray, class_names: Sequence[str] | None, source: str) -> tuple[np.ndarray, list[str]]:
    """Class indices (int64) and the class names, in the order ``class_names`` gives (else found here)."""
    if np.issubdtype(values.dtype, np.floating):
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            bad = values[~(np.isfinite(values) & (values == np.round(values)))][0]
            raise UserError(
                f"{source} holds labels that are not integers (e.g. {bad}) for classification; save the labels "
                "as integers or text, or set data.task=regression to predict the values."
            )
        values = values.astype(np.int64)
    names = [str(v) for v in values.tolist()]
    if class_names is None:
        class_names = [str(v) for v in sorted(set(values.tolist()))]  # numbers by value, text alphabetically
    index = {name: position for position, name in enumerate(class_names)}
    unknown = sorted({name for name in names if name not in index})
    if unknown:
        raise UserError(
            f"{source} holds labels the model was not trained on ({', '.join(unknown[:5])}); the checkpoint "
            f"knows {', '.join(map(str, class_names[:10]))}: train again on data that has every label."
        )
    return np.array([index[name] for name in names], dtype=np.int64), list(class_names)


def number_the_classes(found: dict[str, list[tuple[Any, str]]], class_names: Sequence[str] | None,
                       source: str) -> tuple[dict[str, list[tuple[Any, int]]], list[str]]:
    """(example, label) pairs per split as (example, class index) pairs, and the class names (two at least)."""
    every = [label for pairs in found.values() for _, label in pairs]
    indices, class_names = encode_labels(parse_target(every, numbers=False), class_names, source)
    check_several_classes(class_names, source)
    numbered, start = {}, 0
    for split, pairs in found.items():
        numbered[split] = [(example, int(i)) for (example, _), i in zip(pairs, indices[start:start + len(pairs)])]
        start += len(pairs)
    return numbered, class_names


def parse_target(cells: Sequence[str], numbers: bool = True) -> np.ndarray:
    """The target cells of a text file (a CSV column, the labels of text lines) as an array: integers, else
    other numbers (``numbers``: a regression target), else text labels."""
    if all(parses_as(cell, int) for cell in cells):
        return np.array([int(cell) for cell in cells], dtype=np.int64)
    if numbers and all(parses_as(cell, float) for cell in cells):
        return np.array([float(cell) for cell in cells], dtype=np.float64)
    return np.array(list(cells), dtype=object)


def parses_as(text: str, kind: type) -> bool:
    """Whether ``kind(text)`` reads the text (``int``: an integer, ``float``: any number)."""
    try:
        kind(text)
    except ValueError:
        return False
    return True


def check_several_classes(class_names: Sequence[str], source: str) -> None:
    if len(class_names) < 2:
        raise UserError(
            f"{source} holds one class only ({class_names[0] if class_names else 'none'}): a classifier needs "
            "examples of at least two; add the other classes' examples, or set data.task=regression for values."
        )
