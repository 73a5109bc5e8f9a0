"""Where the labelled images of a user's folder are, in any of three layouts (docs/own_data.md, 'Layouts'):

    root/train/<class>/*.png   root/val/<class>/   [root/test/<class>/]      splits given by folders
    root/<class>/*.png                                                       one set: splits cut from it
    labels.csv with columns path,label[,split]                               paths relative to data.root
                                                                             (else to the CSV's folder)

Each returns, per split it holds, the (file, label) pairs: the label is the class folder's name or the
CSV's label. Empty class folders and a root with no images say what to put where.
"""
from __future__ import annotations

from pathlib import Path

from dltrain.data.own.table import read_table
from dltrain.data.vision.image_files import image_files
from dltrain.errors import UserError

SPLITS = ("train", "val", "test")
LAYOUTS = ("data.root=DIR holding train/<class>/ and val/<class>/ image folders (test/<class>/ optional), or "
           "<class>/ folders only (the splits are cut from them), or data.labels=FILE.csv with columns path,label")

Labelled = list[tuple[Path, str]]


def find_labelled_images(root: Path | None, labels: Path | None) -> dict[str, Labelled]:
    """(file, label) pairs per split found under ``root`` or listed in ``labels``."""
    if labels is not None:
        return _from_csv(labels, root)
    if root is None:
        raise UserError(f"data=imagefolder needs your images: give {LAYOUTS}.")
    if not root.is_dir():
        raise UserError(f"data.root={root} is not a folder (relative paths start at {Path.cwd()}); give {LAYOUTS}.")
    if (root / "train").is_dir():
        return {split: _class_folders(root / split) for split in SPLITS if (root / split).is_dir()}
    found = _class_folders(root)
    return {"train": found}


def _class_folders(folder: Path) -> Labelled:
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise UserError(f"{folder} holds no class folders; {LAYOUTS}.")
    pairs: Labelled = []
    for class_folder in classes:
        files = image_files(class_folder)
        if not files:
            raise UserError(f"{class_folder} holds no image files; add that class's images or remove the folder.")
        pairs += [(path, class_folder.name) for path in files]
    return pairs


def _from_csv(labels: Path, root: Path | None) -> dict[str, Labelled]:
    table = read_table(labels)
    for column in ("path", "label"):
        if column not in table.columns:
            raise UserError(f"{labels} has no column {column} (its columns: {', '.join(table.columns)}); "
                            "write a header line path,label (and optionally split: train, val or test).")
    base = root if root is not None else labels.parent
    splits = table.column("split") if "split" in table.columns else ["train"] * len(table.rows)
    found: dict[str, Labelled] = {}
    for line, path, label, split in zip(table.lines, table.column("path"), table.column("label"), splits):
        if split not in SPLITS:
            raise UserError(f"{labels}, line {line}: split {split!r} is not train, val or test.")
        file = Path(path) if Path(path).is_absolute() else base / path
        if not file.is_file():
            raise UserError(f"{labels}, line {line} names {file}, which is not a file; paths are relative to "
                            f"{base} (data.root, else the CSV's folder).")
        if not label:
            raise UserError(f"{labels}, line {line} gives {path} no label; give every image its class.")
        found.setdefault(split, []).append((file, label))
    if "train" not in found:
        raise UserError(f"{labels} lists no training images; give rows without a split column, or with split train.")
    return found
