"""Reading a run's TensorBoard files back with TensorBoard's own reader, as its dashboards do."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

EVERYTHING = {"images": 0, "histograms": 0, "tensors": 0, "scalars": 0}  # 0: keep every event


def events(folder: Path) -> EventAccumulator:
    return EventAccumulator(str(folder), size_guidance=EVERYTHING).Reload()


@dataclass
class HparamsRow:
    """One row of the HPARAMS tab: the sub-run holding it, its hyperparameters and its metric values."""
    run_name: str
    hparams: dict[str, Any]
    metric_names: list[str]
    metrics: dict[str, tuple[int, float]]  # tag -> (step, value) of the scalar HPARAMS reads (the last)


def hparams_rows(tb: Path) -> list[HparamsRow]:
    """Every run under ``tb`` (the run's own folder and its sub-runs) that holds an HPARAMS session."""
    rows = []
    for folder in sorted({p.parent for p in tb.rglob("events.out.tfevents.*")}):
        found = events(folder)
        try:
            content = found.PluginTagToContent("hparams")
        except KeyError:  # no hparams data in this folder
            continue
        if hparams_metadata.SESSION_START_INFO_TAG not in content:
            continue
        start = hparams_metadata.parse_session_start_info_plugin_data(
            content[hparams_metadata.SESSION_START_INFO_TAG])
        experiment = hparams_metadata.parse_experiment_plugin_data(content[hparams_metadata.EXPERIMENT_TAG])
        values = {key: MessageToDict(value) for key, value in start.hparams.items()}  # numbers come back as floats
        metric_names = [info.name.tag for info in experiment.metric_infos]
        metrics = {tag: (found.Scalars(tag)[-1].step, found.Scalars(tag)[-1].value)
                   for tag in found.Tags()["scalars"]}
        rows.append(HparamsRow(str(folder.relative_to(tb)), values, metric_names, metrics))
    return rows
