"""``data=arrays``: your own NumPy arrays, inputs ``x`` and targets ``y``.

    dltrain data=arrays data.path=digits.npz                       # keys x, y (+ x_val, y_val, x_test, y_test)
    dltrain data=arrays data.path=folder/                          # x.npy, y.npy (+ x_val.npy, ...) in a folder
    dltrain data=arrays data.path=inputs.npy data.targets=labels.npy

The shape of ``x`` says what an example is (``data.input_kind`` says it when the shape cannot):

    (N, F)           features       -> data.num_features = F
    (N, C, L)        signals        -> data.in_channels = C, data.seq_len = L  (L steps of C values)
    (N, C, H, W)     images         -> data.in_channels = C, data.image_size = H (or [H, W])
    (N, H, W)        grey images, with data.input_kind=images (a 3-D x is read as signals otherwise)

Targets, splits and standardisation: dltrain/data/own/examples.py. Files are read with
``allow_pickle=False``: an array file cannot run code.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.data.own.examples import ExampleArrays, Part
from dltrain.errors import UserError

INPUT_KINDS = {2: "features", 3: "signals", 4: "images"}  # by the number of axes of x
SPLIT_KEYS = {"train": ("x", "y"), "val": ("x_val", "y_val"), "test": ("x_test", "y_test")}
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)
LAYOUT_HINT = ("save inputs as x and targets as y: np.savez(FILE.npz, x=inputs, y=targets), optionally with x_val / "
               "y_val and x_test / y_test (dltrain --help own_data, 'Layouts').")


class ArrayData(ExampleArrays):
    prediction_suffixes = (".npy", ".npz")

    def __init__(self, path: str, targets: str | None = None, input_kind: str | None = None,
                 num_features: int | None = None, in_channels: int | None = None, seq_len: int | None = None,
                 image_size: int | list[int] | None = None, **options: Any) -> None:
        super().__init__(path, **options)
        if input_kind not in (None, *INPUT_KINDS.values()):
            raise UserError(f"data.input_kind={input_kind} is not one of {', '.join(INPUT_KINDS.values())}; leave "
                            "it unset to read it from the shape of x.")
        self.targets = Path(targets).expanduser() if targets else None
        self.input_kind = input_kind
        self.num_features, self.in_channels, self.seq_len, self.image_size = num_features, in_channels, seq_len, image_size

    def read(self) -> dict[str, Part]:
        arrays, where = self._arrays()
        parts = {}
        for split, keys in SPLIT_KEYS.items():
            present = [key for key in keys if key in arrays]
            if len(present) == 1:
                missing = next(key for key in keys if key not in arrays)
                raise UserError(f"{where} has an array {present[0]} but no {missing}; {LAYOUT_HINT}")
            if present:
                parts[split] = Part(arrays[keys[0]], arrays[keys[1]], f"{where} ({keys[0]}, {keys[1]})")
        if "train" not in parts:
            raise UserError(f"{where} has no arrays named x and y (it holds {', '.join(sorted(arrays)) or 'none'}); "
                            f"{LAYOUT_HINT}")
        return parts

    def _arrays(self) -> tuple[dict[str, np.ndarray], str]:
        """The arrays by key (x, y, x_val, ...), and the file or folder they came from."""
        path = self.path
        if path.is_dir():
            return {p.stem: _load(p) for p in sorted(path.glob("*.npy")) if p.stem in _ALL_KEYS}, str(path)
        if path.suffix == ".npz":
            return _load_npz(path), str(path)
        if path.suffix == ".npy":
            if self.targets is None:
                raise UserError(f"data.path={path} holds the inputs only; name the targets too, "
                                f"data.targets=y.npy (or give an .npz with keys x and y, or a folder of x.npy, y.npy).")
            return {"x": _load(path), "y": _load(self.targets)}, f"{path} and {self.targets}"
        if not path.exists():
            raise UserError(f"data.path={path} does not exist (relative paths start at {Path.cwd()}); give an .npz "
                            "file, a folder holding x.npy and y.npy, or an .npy file of inputs with data.targets.")
        raise UserError(f"data.path={path} is not an .npz or .npy file or a folder of them; save the arrays with "
                        "np.savez(FILE.npz, x=inputs, y=targets), or use data=csv for a table.")

    def as_inputs(self, x: np.ndarray, source: str):
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise UserError(f"x of {source} holds {x.dtype} values; inputs must be numbers (save a float or integer "
                            "array).")
        if x.ndim == 1:  # one number per example: one feature
            x = x[:, None]
        if x.ndim == 3 and self.input_kind == "images":  # (N, H, W) grey images: one channel
            x = x[:, None]
        if x.ndim not in INPUT_KINDS:
            raise UserError(
                f"x of {source} has shape {x.shape}; dltrain reads (N, F) features, (N, C, L) signals or "
                "(N, C, H, W) images (N examples first): reshape x to one of these."
            )
        if self.input_kind not in (None, INPUT_KINDS[x.ndim]):
            raise UserError(f"x of {source} has shape {x.shape}, which is not {self.input_kind} "
                            f"(data.input_kind={self.input_kind}); leave data.input_kind unset to read x by its shape.")
        return super().as_inputs(x, source)

    def shape_facts(self, x: np.ndarray) -> dict[str, Any]:
        kind = INPUT_KINDS[x.ndim]
        self.input_kind = kind
        if kind == "features":
            return {"num_features": x.shape[1]}
        if kind == "signals":
            return {"in_channels": x.shape[1], "seq_len": x.shape[2]}
        height, width = x.shape[2:]
        return {"in_channels": x.shape[1], "image_size": height if height == width else [height, width]}

    def sample_shape(self) -> tuple[int, ...]:
        if self.input_kind == "features":
            return (self.num_features,)
        if self.input_kind == "signals":
            return (self.in_channels, self.seq_len)
        size = self.image_size
        return (self.in_channels, *(size if isinstance(size, (list, tuple)) else (size, size)))

    def facts(self) -> dict[str, Any]:
        shape = {"features": ("num_features",), "signals": ("in_channels", "seq_len"),
                 "images": ("in_channels", "image_size")}[self.input_kind]
        return {**super().facts(), "path": str(self.path.resolve()), "input_kind": self.input_kind,
                **({"targets": str(self.targets.resolve())} if self.targets else {}),
                **{key: getattr(self, key) for key in shape}}

    def read_inputs(self, path: Path) -> np.ndarray:
        if path.suffix == ".npz":
            arrays = _load_npz(path)
            if "x" not in arrays:
                raise UserError(f"{path} has no array x (it holds {', '.join(sorted(arrays))}); save the examples "
                                "to predict as x: np.savez(FILE, x=inputs).")
            return arrays["x"]
        return _load(path)


_ALL_KEYS = {key for keys in SPLIT_KEYS.values() for key in keys}


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path} does not exist (relative paths start at {Path.cwd()}); give the path of the "
                        "array file.") from None
    except READ_ERRORS as error:
        raise UserError(_unreadable(path, error)) from None


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise UserError(f"{path} does not exist (relative paths start at {Path.cwd()}); give the path of the "
                        ".npz file.") from None
    except READ_ERRORS as error:
        raise UserError(_unreadable(path, error)) from None


def _unreadable(path: Path, error: Exception) -> str:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (f"{path} cannot be read as a NumPy array file ({reason[:200]}); save it again with np.save / np.savez "
            "(object arrays are refused: they could run code when loaded).")
