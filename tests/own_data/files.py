"""The files the own-data tests write: real data from scikit-learn's bundled sets, in each layout a user has.

The digits (1,797 8x8 images of 10 classes) serve as arrays of each shape: 64 features, signals of 8 steps
of 8 values (each image read row by row), and images; the breast-cancer table (569 tumours, 30 features)
as a CSV with text labels; generated story sentences as labelled text lines.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_digits

from dltrain.data.text.classification import describe
from dltrain.data.text.sentence_pairs import NEGATIVE, POSITIVE


def digits_x(shape: str) -> np.ndarray:
    """The digits as features (N, 64), signals (N, 8, 8): step t = image row t, its 8 values the channels,
    or uint8 images (N, 1, 8, 8)."""
    images = load_digits().images
    if shape == "features":
        return images.reshape(len(images), -1)
    if shape == "signals":
        return images.transpose(0, 2, 1).astype(np.float32)  # x[n, c, t] = pixel (row t, column c)
    return (images[:, None] * 255 / 16).round().astype(np.uint8)


def digits_y() -> np.ndarray:
    return load_digits().target


def digits_npz(folder: Path, shape: str) -> Path:
    path = folder / f"digits_{shape}.npz"
    np.savez(path, x=digits_x(shape), y=digits_y())
    return path


def breast_cancer_csv(path: Path) -> Path:
    """569 rows: 30 numeric columns and ``diagnosis`` (malignant / benign)."""
    table = load_breast_cancer()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*table.feature_names, "diagnosis"])
        for row, target in zip(table.data, table.target):
            writer.writerow([*(f"{value:.6g}" for value in row), table.target_names[target]])
    return path


def labelled_lines(path: Path, count: int = 600, seed: int = 0) -> Path:
    """``positive<TAB>text`` / ``negative<TAB>text`` lines: story sentences whose adjective says the class."""
    rng = random.Random(seed)
    with path.open("w") as handle:
        for index in range(count):
            label = index % 2
            text, _ = describe(rng, (NEGATIVE, POSITIVE)[label], label)
            handle.write(f"{'positive' if label else 'negative'}\t{text}\n")
    return path


def digits_image_folder(root: Path, per_class: int | None = None) -> Path:
    """root/<digit>/<index>.png: the digits as grey PNG files, in class folders (no num_classes anywhere)."""
    images = digits_x("images")[:, 0]
    for index, (image, label) in enumerate(zip(images, digits_y())):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        if per_class is None or len(list(folder.iterdir())) < per_class:
            Image.fromarray(image).save(folder / f"{index}.png")
    return root
