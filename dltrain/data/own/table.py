"""``data=csv``: a table of your own, one example per row, the column to predict named by ``data.target``.

    dltrain data=csv data.path=patients.csv data.target=diagnosis [data.features=[age,weight,smoker]]

The first line names the columns; ``.tsv`` / ``.tab`` files are split at tabs, others at commas
(``data.delimiter`` says otherwise). Read with Python's own ``csv`` module: no table library is a
dependency, which is also why Parquet files are refused (save them as CSV).

* Features: ``data.features``, else every column but the target. A column whose every value is a number
  is numeric; any other is categorical and becomes one 0/1 column per category (one-hot), its categories
  sorted. The categories are a fact (``data.categories``), so prediction encodes new rows the same way (a
  category never seen in training becomes all zeros).
* Missing values (an empty cell, NA, N/A, NaN, null, ?) stop the run with the file, line and column
  (``data.missing=drop`` drops those rows instead, and says how many).
* The target: integers or text are class labels, other numbers a regression target (``data.task``
  decides otherwise); then splits and standardisation as for arrays (dltrain/data/own/examples.py).
* Validation and test rows come from ``data.val_path`` / ``data.test_path`` when given, else they are cut
  from the table.
"""
from __future__ import annotations

import csv
import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.data.own.examples import ExampleArrays, Part
from dltrain.data.own.targets import parse_target, parses_as
from dltrain.errors import UserError

log = logging.getLogger(__name__)

MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}
TAB_SUFFIXES = (".tsv", ".tab")
MISSING_POLICIES = ("error", "drop")


@dataclass
class Table:
    path: Path
    columns: list[str]
    rows: list[list[str]]  # the cells of each row, as text
    lines: list[int]       # the line of the file each row is on (1-based), for messages

    def column(self, name: str) -> list[str]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def keep(self, chosen: Sequence[int]) -> Table:
        return Table(self.path, self.columns, [self.rows[i] for i in chosen], [self.lines[i] for i in chosen])


def read_table(path: Path, delimiter: str | None = None) -> Table:
    """The header and rows of a CSV / TSV file; a ragged row or an empty file is a user mistake."""
    if path.suffix.lower() == ".parquet":
        raise UserError(f"{path} is a Parquet file, and dltrain reads tables as CSV (no Parquet reader is among its "
                        "dependencies); save it as CSV, e.g. pandas.read_parquet(FILE).to_csv('table.csv', "
                        "index=False), and use data.path=table.csv.")
    if not path.is_file():
        raise UserError(f"data.path={path} is not a file (relative paths start at {Path.cwd()}); give the path "
                        "of a CSV file whose first line names the columns.")
    delimiter = delimiter or ("\t" if path.suffix.lower() in TAB_SUFFIXES else ",")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # utf-8-sig: the BOM spreadsheets write
            records = list(_rows(csv.reader(handle, delimiter=delimiter)))
    except (UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path} cannot be read as a UTF-8 CSV file ({error}); save it as CSV (UTF-8).") from None
    if not records:
        raise UserError(f"{path} is empty; its first line must name the columns, one example per line below.")
    (_, header), body = records[0], records[1:]
    columns = [name.strip() for name in header]
    for line, row in body:
        if len(row) != len(columns):
            raise UserError(f"{path}, line {line} has {len(row)} values but the header names {len(columns)} columns "
                            f"({', '.join(columns[:8])}); give every row one value per column.")
    return Table(path, columns, [[cell.strip() for cell in row] for _, row in body], [line for line, _ in body])


def _rows(reader: Any) -> Any:
    """(line, cells) of each non-blank row."""
    for row in reader:
        if any(cell.strip() for cell in row):
            yield reader.line_num, row


class TableData(ExampleArrays):
    prediction_suffixes = (".csv", ".tsv", ".tab")

    def __init__(self, path: str, target: str | None = None, features: Sequence[str] | None = None,
                 val_path: str | None = None, test_path: str | None = None, delimiter: str | None = None,
                 missing: str = "error", categories: dict[str, list[str]] | None = None,
                 num_features: int | None = None, **options: Any) -> None:
        super().__init__(path, **options)
        if missing not in MISSING_POLICIES:
            raise UserError(f"data.missing={missing} is not one of {', '.join(MISSING_POLICIES)}.")
        self.target, self.delimiter, self.missing = target, delimiter, missing
        self.features = list(features) if features else None
        self.split_paths = {"val": val_path, "test": test_path}
        self.categories = None if categories is None else {str(k): [str(c) for c in v] for k, v in categories.items()}
        self.num_features = num_features

    def read(self) -> dict[str, Part]:
        tables = {"train": read_table(self.path, self.delimiter)}
        for split, path in self.split_paths.items():
            if path:
                tables[split] = read_table(Path(path).expanduser(), self.delimiter)
        self.features = self._feature_columns(tables["train"])
        for table in tables.values():
            self._check_columns(table, [*self.features, self.target])
        tables = {split: self._without_missing(table) for split, table in tables.items()}
        if self.categories is None:
            self.categories = _categories(list(tables.values()), self.features)
        return {split: Part(self._encode(table), parse_target(table.column(self.target)), str(table.path))
                for split, table in tables.items()}

    def _feature_columns(self, table: Table) -> list[str]:
        if not self.target:
            raise UserError(f"data=csv needs the column to predict: add data.target=COLUMN (the columns of "
                            f"{table.path}: {', '.join(table.columns[:12])}).")
        self._check_columns(table, [self.target])
        features = self.features or [c for c in table.columns if c != self.target]
        if self.target in features:
            raise UserError(f"data.features names the target column {self.target} too; leave it out of the features.")
        if not features:
            raise UserError(f"{table.path} has no column besides the target {self.target}; add feature columns.")
        return features

    def _check_columns(self, table: Table, wanted: Sequence[str]) -> None:
        for name in wanted:
            if name not in table.columns:
                close = difflib.get_close_matches(name, table.columns, n=1)
                hint = f" Did you mean {close[0]}?" if close else ""
                raise UserError(f"{table.path} has no column {name}.{hint} Its columns: "
                                f"{', '.join(table.columns[:20])}; name one of them (data.target, data.features).")

    def _without_missing(self, table: Table, columns: Sequence[str] | None = None) -> Table:
        """The table, or with ``data.missing=drop`` the rows without a missing value; else the first one stops."""
        columns = list(columns or [*self.features, self.target])
        indices = [table.columns.index(name) for name in columns]
        complete = []
        for position, row in enumerate(table.rows):
            gap = next((i for i in indices if row[i].lower() in MISSING), None)
            if gap is None:
                complete.append(position)
            elif self.missing == "error":
                raise UserError(
                    f"{table.path}, line {table.lines[position]} has no value for column {table.columns[gap]} "
                    f"({row[gap]!r}); fill it in, or drop such rows with data.missing=drop."
                )
        if len(complete) < len(table.rows):
            log.warning("%s: %d of %d rows have a missing value and are left out (data.missing=drop)", table.path,
                        len(table.rows) - len(complete), len(table.rows))
        return table.keep(complete)

    def _encode(self, table: Table) -> np.ndarray:
        """The feature columns as numbers, (rows, F): numeric columns as they are, categorical ones one-hot."""
        blocks = []
        for name in self.features:
            cells = table.column(name)
            if name in self.categories:
                index = {category: position for position, category in enumerate(self.categories[name])}
                block = np.zeros((len(cells), len(index)), dtype=np.float32)
                for row, cell in enumerate(cells):
                    if cell in index:  # a category training never saw: all zeros
                        block[row, index[cell]] = 1.0
            else:
                block = _numbers(cells, table, name)[:, None]
            blocks.append(block)
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(table.rows), 0), np.float32)

    def shape_facts(self, x: np.ndarray) -> dict[str, Any]:
        return {"num_features": x.shape[1]}

    def sample_shape(self) -> tuple[int, ...]:
        return (self.num_features,)

    def facts(self) -> dict[str, Any]:
        return {**super().facts(), "path": str(self.path.resolve()), "features": self.features,
                "categories": self.categories, "num_features": self.num_features}

    def read_inputs(self, path: Path) -> np.ndarray:
        table = read_table(path, self.delimiter)
        self._check_columns(table, self.features)
        policy, self.missing = self.missing, "error"  # every row gets a prediction: none may be dropped here
        try:
            return self._encode(self._without_missing(table, self.features))
        finally:
            self.missing = policy


def _categories(tables: list[Table], features: Sequence[str]) -> dict[str, list[str]]:
    """The categories of every column that holds a value other than a number, sorted."""
    found = {}
    for name in features:
        cells = [cell for table in tables for cell in table.column(name)]
        if not all(parses_as(cell, float) for cell in cells):
            found[name] = sorted(set(cells))
    return found


def _numbers(cells: list[str], table: Table, name: str) -> np.ndarray:
    try:
        return np.array([float(cell) for cell in cells], dtype=np.float32)
    except ValueError:
        row = next(i for i, cell in enumerate(cells) if not parses_as(cell, float))
        raise UserError(f"{table.path}, line {table.lines[row]}: column {name} holds {cells[row]!r}, and it was "
                        "numeric in training; give a number there.") from None
