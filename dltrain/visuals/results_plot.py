"""``plots/results.png``: a run's curves drawn from its metrics.csv, and several runs' curves in one picture
(``dltrain runs --compare``).

One panel per metric family, the x-axis in epochs counted from 1 (the end of epoch 1 is at 1.0):

* ``loss``: every loss (train/loss per logged step as a thin line, train/loss_epoch, val/loss; a GAN's losses);
* one panel per other metric, its variants together (val/acc, val/acc_top5 and val/balanced_acc in ``acc``;
  map and map_50 in ``map``);
* ``lr``: the learning rate of each optimizer per logged step.

Reads CSV files only and imports matplotlib inside the drawing function (without pyplot, so no global backend
is switched: the Agg canvas draws the PNG), so importing this module costs nothing at start-up and ``dltrain runs``
answers without torch.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

PANEL_WIDTH, PANEL_HEIGHT, DPI = 5.0, 3.6, 100  # inches, inches, dots per inch: 500 x 360 pixels a panel
MAX_COLUMNS = 3
# the axes themselves, and the epoch's duration (bookkeeping, not a result)
NOT_CURVES = ("epoch", "step", "train/epoch_time_s")


@dataclass
class Curves:
    """One run's series: name -> (x in epochs, y)."""
    label: str
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _number(text: str | None) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def read_curves(run_dir: Path, label: str = "") -> Curves:
    """The curves of metrics.csv (one point per epoch) and metrics_steps.csv (one per logged step, placed at its
    fraction of the epoch it fell in)."""
    curves = Curves(label or run_dir.name)
    epochs = read_rows(run_dir / "metrics.csv")
    ends = [(_number(row.get("step")) or 0.0, _number(row.get("epoch")) or 0.0) for row in epochs]
    for row in epochs:
        _add_row(curves, row, _number(row.get("epoch")))
    for row in read_rows(run_dir / "metrics_steps.csv"):
        step = _number(row.get("step"))
        if step is not None:
            _add_row(curves, row, _epoch_of_step(step, ends))
    return curves


def _add_row(curves: Curves, row: dict[str, str], x: float | None) -> None:
    if x is None:
        return
    for name, text in row.items():
        value = _number(text)
        if value is None or name in NOT_CURVES:
            continue
        xs, ys = curves.series.setdefault(name, ([], []))
        xs.append(x)
        ys.append(value)


def _epoch_of_step(step: float, ends: list[tuple[float, float]]) -> float:
    """Where a step falls in epochs: between the steps at which the epochs around it ended (epoch 0 at step 0);
    after the last epoch row (a run still in its epoch), at the last epoch's pace."""
    previous_step, previous_epoch = 0.0, 0.0
    for end_step, epoch in ends:
        if step <= end_step:
            span = end_step - previous_step
            return previous_epoch + (epoch - previous_epoch) * ((step - previous_step) / span if span else 1.0)
        previous_step, previous_epoch = end_step, epoch
    pace = previous_step / previous_epoch if previous_epoch else 0.0
    return previous_epoch + (step - previous_step) / pace if pace else step


def family(name: str) -> str:
    """The panel a series goes in: ``loss``, ``lr``, or the metric's name without its split and variant
    (``val/acc_top5`` -> ``acc``, ``test/map_50`` -> ``map``)."""
    parts = name.split("/")
    if any("loss" in part for part in parts):
        return "loss"
    if "lr" in parts:
        return "lr"
    leaf = parts[-1] if len(parts) > 1 else name
    leaf = re.sub(r"^balanced_", "", leaf)
    return re.sub(r"(_top\d+|_\d+)$", "", leaf) or leaf


def panels(runs: list[Curves]) -> dict[str, list[str]]:
    """Family -> series names, loss first and lr last, the others in the order they first appear."""
    grouped: dict[str, list[str]] = {}
    for run in runs:
        for name in run.series:
            names = grouped.setdefault(family(name), [])
            if name not in names:
                names.append(name)
    order = ["loss"] + [f for f in grouped if f not in ("loss", "lr")] + ["lr"]
    return {f: sorted(grouped[f], key=_series_order) for f in order if f in grouped}


def _series_order(name: str) -> tuple[int, str]:
    split = name.split("/")[0]
    return ({"train": 0, "val": 1, "test": 2}.get(split, 3), name)


def figure_size(panel_count: int) -> tuple[int, int]:
    """The PNG's width and height in pixels for this many panels."""
    columns = min(MAX_COLUMNS, max(panel_count, 1))
    rows = math.ceil(max(panel_count, 1) / columns)
    return round(columns * PANEL_WIDTH * DPI), round(rows * PANEL_HEIGHT * DPI)


def draw(runs: list[Curves], path: Path, title: str = "") -> Path:
    """Draw the runs' curves into ``path`` (a PNG); one run: a colour per series; several: a colour per run."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    families = panels(runs)
    if not families:
        raise ValueError("no curves to draw: metrics.csv holds no numbers yet")
    width, height = figure_size(len(families))
    columns = min(MAX_COLUMNS, len(families))
    rows = math.ceil(len(families) / columns)
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    colours = [f"C{i % 10}" for i in range(max(len(runs), max(len(n) for n in families.values())))]
    styles = ["-", "--", ":", "-."]
    for panel, (name, series_names) in zip(axes, families.items()):
        for run_index, run in enumerate(runs):
            for series_index, series in enumerate(series_names):
                if series not in run.series:
                    continue
                xs, ys = run.series[series]
                per_step = len(xs) > 1 and any(x != int(x) for x in xs)  # placed between epoch ends: thin, no dots
                colour = colours[run_index] if len(runs) > 1 else colours[series_index]
                label = f"{run.label}: {series}" if len(runs) > 1 else series
                panel.plot(xs, ys, styles[series_index % len(styles)] if len(runs) > 1 else "-", color=colour,
                           linewidth=0.8 if per_step else 1.6, marker=None if per_step else "o",
                           markersize=3, alpha=0.6 if per_step else 1.0, label=label)
        panel.set_title(name)
        panel.set_xlabel("epoch")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.set_ylabel("learning rate" if name == "lr" else name)
        panel.grid(alpha=0.3)
        panel.legend(fontsize=7)
        if name == "lr":
            panel.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    for unused in axes[len(families):]:
        unused.set_visible(False)
    if title:
        figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path


def draw_run(run_dir: Path) -> Path:
    """``<run>/plots/results.png`` from the run's metrics.csv and metrics_steps.csv."""
    return draw([read_curves(run_dir)], run_dir / "plots" / "results.png",
                title=f"{run_dir.parent.name}/{run_dir.name}")
