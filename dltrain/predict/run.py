"""``dltrain mode=predict``: run a checkpoint on image files, on the examples of data files (arrays, tables,
text lines), or sample a generator, and write the results.

    dltrain mode=predict ckpt_path=PATH predict.inputs=photos/ [predict.output_dir=DIR]
    dltrain mode=predict ckpt_path=PATH predict.inputs=new_rows.csv

The checkpoint's own config builds the model (command-line overrides win, as
in ``mode=eval``); its EMA weights are used when it has them. Each task says
what it makes of a batch of files (``Task.predict_step``, tasks/base.py); this
module finds and loads the files (``dltrain.predict.inputs``) and writes what
the tasks return: one PNG per picture, named ``<file stem>_<kind>.png``, and
``predictions.json`` with one record per file (or sample, or example of a data file)::

    {"checkpoint": ..., "task": ..., "predictions": [{"file": ..., "width": ..., "height": ...,
                                                        ..., "outputs": {"overlay": "cat_overlay.png"}}]}

The output folder is the command's own (``<run>/predict_<date>_<time>_<id>/``
inside the checkpoint's run, dltrain/launch/output_dirs.py) unless ``predict.output_dir`` is
set; a folder that already holds a predictions.json is refused, so an earlier
prediction is never overwritten. predictions.json is written last and
atomically: it exists only when every file was predicted.

Which files: image files, read as the data config's image facts say (dltrain/predict/inputs.py), unless
the checkpoint's data module reads files of its own kind (``DataModule.prediction_suffixes``: data=arrays,
csv, text_lines). Then it reads them itself (``prediction_samples``), with the class names, vocabulary and
standardisation numbers its config stored, and each record names the file and the row of its example.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torchvision.io import write_png

from dltrain.checkpoint.run_state import load_inference_weights
from dltrain.data.vision.image_files import check_readable
from dltrain.engine.environment import pick_device, seed_everything
from dltrain.errors import UserError
from dltrain.launch.build import build_task
from dltrain.predict.inputs import Preprocess, find_files, find_images, output_names
from dltrain.tasks.base import Prediction, Task

log = logging.getLogger(__name__)

SUPPORTED = ("image classification, segmentation, detection (boxes and Mask R-CNN masks), GANs (sampling), "
             "autoencoders / VAEs, Pix2Pix / CycleGAN (translation), style transfer, and the classification and "
             "regression of your own arrays, tables and texts")


def predict(cfg: DictConfig, options: DictConfig, run_dir: Path, state: dict[str, Any]) -> Path:
    """Predict with the checkpoint ``state`` (its config is ``cfg``); returns the folder written to."""
    seed_everything(cfg.seed)
    task = build_task(cfg)
    data = instantiate(cfg.data) if options.get("inputs") else None  # not set up: its config holds what it found
    files = _input_files(task, options, data)
    out_dir = Path(options.output_dir) if options.output_dir else run_dir
    if (out_dir / "predictions.json").exists():
        raise UserError(f"{out_dir} already holds a predictions.json from an earlier prediction; set "
                        "predict.output_dir to a new folder (or delete the old results).")
    samples = data.prediction_samples(files) if files and _own_files(data) else None  # all read before writing
    if samples is not None:
        task.check_data(data)  # the task reads what it needs from the module: class count, target units, vocabulary
    preprocess = Preprocess(data) if files and samples is None else None
    load_inference_weights(task, state)
    device = pick_device(cfg.trainer.accelerator)
    task.to(device).eval()

    records: list[dict[str, Any]] = []
    size = max(1, int(options.batch_size))
    with torch.no_grad():
        if samples is not None:
            for start in range(0, len(samples), size):
                records += _write(task.predict_step(samples.part(start, start + size, device), options), out_dir)
        elif files:
            names = output_names(files)
            for start in range(0, len(files), size):
                batch = preprocess(files[start: start + size], names[start: start + size], device)
                records += _write(task.predict_step(batch, options), out_dir)
        else:
            records += _write(task.predict_step(None, options), out_dir)

    summary = {"checkpoint": str(cfg.ckpt_path), "task": task.name, "task_name": str(cfg.get("task_name", "")),
               "inputs": None if not files else [str(f) for f in files], "predictions": records}
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json_atomically(summary, out_dir / "predictions.json")
    log.info("%d predictions of %s written to %s", len(records), cfg.ckpt_path, out_dir)
    return out_dir


def _input_files(task: Task, options: DictConfig, data: Any) -> list[Path]:
    """The files to predict on, after checking the task can take them (or does without)."""
    kind, inputs = task.predict_inputs, options.get("inputs")
    if kind is None:
        raise UserError(f"The {task.name} task ({type(task).__name__}) has no mode=predict; prediction supports "
                        f"{SUPPORTED}.")
    if inputs and kind == "unused":
        raise UserError(f"The {task.name} task makes its images without input files in mode=predict (a GAN samples "
                        "noise; style transfer writes the one image its run optimised: train again with another "
                        "style_transfer.content for a new one); leave predict.inputs out.")
    if not inputs:
        if kind == "required":
            raise UserError(f"The {task.name} task predicts from input files: add predict.inputs=PATH (an image file, "
                            "a folder of images, or a quoted glob such as 'photos/*.jpg'; for data=arrays, csv or "
                            "text_lines a file of new examples).")
        return []
    suffixes = _own_files(data)
    if suffixes:  # the data module's own kind of files (it reads them)
        return find_files(inputs, suffixes, "data", f"'new/*{suffixes[0]}'")
    files = find_images(inputs)
    check_readable(files, "predict.inputs")
    return files


def _own_files(data: Any) -> tuple[str, ...]:
    """The suffixes of the files the data module reads itself in mode=predict (none: image files)."""
    return tuple(getattr(data, "prediction_suffixes", ()))


def _write(predictions: list[Prediction], out_dir: Path) -> list[dict[str, Any]]:
    """Each prediction's pictures as PNGs; returns the records with their file names added."""
    records = []
    out_dir.mkdir(parents=True, exist_ok=True)  # only once there is something to write
    for prediction in predictions:
        outputs = {}
        for kind, picture in prediction.images.items():
            file_name = f"{prediction.name}_{kind}.png" if kind else f"{prediction.name}.png"
            write_png(picture.cpu(), str(out_dir / file_name))
            outputs[kind or "image"] = file_name
        if prediction.record is not None:
            records.append({**prediction.record, **({"outputs": outputs} if outputs else {})})
    return records


def _write_json_atomically(content: dict[str, Any], path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(content, indent=2))
    os.replace(temporary, path)
