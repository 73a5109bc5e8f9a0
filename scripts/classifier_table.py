"""Train every image classifier of the zoo on the offline digits and print a table for docs/models.md.

    python scripts/classifier_table.py [--epochs 4] [--models resnet18 vit ...] [--image-size 8] [--overrides K=V ...]

Each model trains through dltrain's own API (the same path as `dltrain model=NAME`) with AdamW,
a cosine schedule and batch 64 on scikit-learn's 8x8 digits (1,257 training images), then reports
parameters and FLOPs per sample at that input size, the best validation accuracy and the seconds
per epoch. tests/models/test_classifiers_learn.py runs the same function (slow-marked), with a recipe of
its own for some models: `--overrides` reproduces one (e.g. `--models resnet152 --epochs 1 --overrides
data.batch_size=16 trainer.limit_train_batches=50 model.zero_init_residual=true`).
"""
from __future__ import annotations

import argparse
import logging
import platform
import tempfile
from pathlib import Path

import torch

from dltrain import api

# options that make a few epochs on 1,257 tiny images meaningful: the same for every model
RECIPE = ["data=digits", "optimizer=adamw", "optimizer.lr=2e-3", "optimizer.weight_decay=0.01",
          "scheduler=cosine", "trainer.log_histograms=false", "trainer.enable_progress_bar=false",
          "logger=none", "callbacks=none", "test=false"]  # AdamW takes its fused kernel (engine/optimization.py)


def classifier_names() -> list[str]:
    from dltrain.launch.config import CONFIG_DIR

    return sorted(p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml")
                  if "_target_: dltrain.models.classification." in p.read_text())


def train_one(name: str, epochs: int, image_size: int, run_dir: Path, overrides: list[str] = ()) -> dict:
    """``overrides`` come last, so a model's own recipe (tests/models/test_classifiers_learn.py) wins."""
    results = api.train([f"model={name}", f"trainer.max_epochs={epochs}", f"data.image_size={image_size}",
                         *RECIPE, *overrides], run_dir=run_dir)
    return {
        "model": name,
        "params": results["params"],
        "flops": results["flops_per_sample"],
        "val_acc": results["best"],
        "s_per_epoch": results["final"]["train/epoch_time_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=8)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--overrides", nargs="*", default=[], help="config overrides after the shared recipe")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    names = args.models or classifier_names()
    print(f"digits {args.image_size}px, {args.epochs} epochs, {platform.machine()} CPU, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| model | params | FLOPs / sample | val acc | s / epoch |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            row = train_one(name, args.epochs, args.image_size, Path(tmp) / name, args.overrides)
            print(f"| {row['model']} | {row['params'] / 1e6:.2f}M | {row['flops'] / 1e6:.1f}M | "
                  f"{row['val_acc']:.3f} | {row['s_per_epoch']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
