"""Trainer overhead: dltrain's trainer vs a plain hand-written PyTorch loop, same model, data and steps.

    python scripts/bench_overhead.py [--epochs 10] [--repeats 7] [--model mlp] [--resnet-repeats 3]
    pip install -e ".[bench]"   # adds PyTorch Lightning for its row (never a runtime dependency)

Both sides train the same model from the same initial weights on the same
offline digits loaders (batch 64, 23 steps per epoch) and validate once per
epoch: the plain loop and Lightning compute the validation loss and accuracy,
the trainer its classification task's metrics (also top-5, balanced accuracy
and the confusion matrix). The trainer runs with logging off ("bare") and with its defaults
(TensorBoard + CSV + last / best checkpoints, "default logging", checkpoints written in the background), and
with checkpoints written in the loop as before (``trainer.async_checkpoint=false``), and with its loggers but no
checkpoints (``trainer.enable_checkpointing=false``: what the checkpoints cost, apart); PyTorch Lightning, when
installed, runs the same loop with its logging, checkpointing and bars off.

A second table repeats the loops but Lightning for ResNet-18 on the digits at 32 px (2 epochs of 3 batches),
where a checkpoint with Adam's state is 134 MB: there the checkpoint writes matter.

Timing is the process's CPU time (``time.process_time``; run it with ``OMP_NUM_THREADS=1``), so time the
scheduler gives to other processes on a shared machine is not charged to whichever loop was running; the
background checkpoint writer's CPU time is counted too (it would run on another core of a real machine), so
wall-clock rates are printed beside. The loops take turns within each round, and the ratio to the plain
loop is taken within a round (a round on a busier machine slows every loop of that round alike); the table
prints each loop's best steps/s and the median of its per-round ratios.
"""
from __future__ import annotations

import argparse
import copy
import itertools
import logging
import platform
import statistics
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

import torch
from hydra.utils import instantiate

from dltrain import api
from dltrain.launch import build


def plain_loop(model, data, epochs: int, limit: int | None = None, val_limit: int | None = None) -> int:
    """The loop a user would write by hand (what nanoGPT-style code does)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)  # the kernel the trainer takes for Adam
    steps = 0
    for epoch in range(epochs):
        model.train()
        for images, labels in itertools.islice(data.train_dataloader(epoch), limit):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
        model.eval()
        loss_sum, correct, count = 0.0, 0, 0
        with torch.no_grad():  # the two numbers every hand-written loop prints: validation loss and accuracy
            for images, labels in itertools.islice(data.val_dataloader(), val_limit):
                logits = model(images)
                loss_sum += torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item()
                correct += (logits.argmax(1) == labels).sum().item()
                count += len(labels)
    return steps


def trainer_loop(cfg, model, data, run_dir: Path):
    """Build the trainer from its config (setup, untimed, like composing the config), return its fit()."""
    task = instantiate({"_target_": cfg.task._target_}, model=model, loss=torch.nn.CrossEntropyLoss(),
                       **{k: v for k, v in cfg.task.items() if k != "_target_"})
    trainer = build.build_trainer(cfg, run_dir)
    optimizer, decay = build.split_optimizer_config(cfg)
    scheduler = instantiate(cfg.scheduler)

    def fit() -> int:
        trainer.fit(task, data, optimizer, scheduler, decay)
        trainer.loggers.close()
        return trainer.global_step
    return fit


def lightning_loop(model, data, epochs: int):
    """The same model, optimizer and data through PyTorch Lightning, extras off (None if not installed)."""
    try:
        import pytorch_lightning as pl
    except ImportError:
        return None

    class Classifier(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def training_step(self, batch, batch_idx):
            images, labels = batch
            return torch.nn.functional.cross_entropy(self.model(images), labels)

        def validation_step(self, batch, batch_idx):
            images, labels = batch
            logits = self.model(images)
            self.log("val/loss", torch.nn.functional.cross_entropy(logits, labels))
            self.log("val/acc", (logits.argmax(1) == labels).float().mean())

        def configure_optimizers(self):
            return torch.optim.Adam(self.model.parameters(), lr=1e-3, fused=True)

    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    module = Classifier()
    train_loaders = _EpochLoaders(data)

    def fit() -> int:
        trainer.fit(module, train_dataloaders=train_loaders, val_dataloaders=data.val_dataloader())
        return trainer.global_step
    return fit


class _EpochLoaders:
    """Lightning iterates one loader object every epoch: this one reshuffles with seed + epoch like the others."""

    def __init__(self, data) -> None:
        self.data, self.epoch = data, 0

    def __len__(self) -> int:
        return len(self.data.train_dataloader(0))

    def __iter__(self):
        loader = self.data.train_dataloader(self.epoch)
        self.epoch += 1
        return iter(loader)


def timed_rounds(loops: dict, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Steps per CPU-second and per wall-second of each loop in each of ``repeats`` rounds; each round runs every
    loop once, in turn. A loop factory does the untimed setup and returns the timed loop (or None when it cannot
    run here)."""
    rates: dict[str, dict[str, list[float]]] = {name: {"cpu": [], "wall": []} for name in loops}
    for _ in range(repeats):
        for name, make_loop in loops.items():
            loop = make_loop()
            if loop is None:
                continue
            cpu, wall = time.process_time(), time.perf_counter()
            steps = loop()
            rates[name]["cpu"].append(steps / (time.process_time() - cpu))
            rates[name]["wall"].append(steps / (time.perf_counter() - wall))
    return {name: values for name, values in rates.items() if values["cpu"]}


def median_ratio(rates: list[float], baseline: list[float]) -> float:
    """The median over rounds of a loop's rate divided by the baseline's rate in the same round."""
    return statistics.median(rate / base for rate, base in zip(rates, baseline))


def workload(model: str, epochs: int, repeats: int, extra: list[str], lightning: bool,
             limit: int | None = None, val_limit: int | None = None) -> dict:
    """Every loop of the table on one model: the same initial weights, data and steps (``limit`` training and
    ``val_limit`` validation batches per epoch, when given)."""
    common = [f"model={model}", f"trainer.max_epochs={epochs}", "scheduler=none", "optimizer=adam",
              "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "trainer.log_histograms=false",
              *extra, *([f"trainer.limit_train_batches={limit}"] if limit else []),
              *([f"trainer.limit_val_batches={val_limit}"] if val_limit else [])]
    bare = api.compose(common + ["logger=none", "callbacks=none"])
    default = api.compose(common)
    in_the_loop = api.compose(common + ["trainer.async_checkpoint=false"])
    no_checkpoints = api.compose(common + ["trainer.enable_checkpointing=false"])
    data = build.build_data(bare)
    torch.manual_seed(0)
    initial = instantiate(bare.model)

    with tempfile.TemporaryDirectory() as tmp:
        loops = {
            "plain PyTorch loop": lambda: partial(plain_loop, copy.deepcopy(initial), data, epochs, limit, val_limit),
            "dltrain trainer, bare": lambda: trainer_loop(bare, copy.deepcopy(initial), data, Path(tmp) / "bare"),
            **({"PyTorch Lightning, bare": lambda: lightning_loop(copy.deepcopy(initial), data, epochs)}
               if lightning else {}),
            "dltrain, default, checkpoints in the loop":
                lambda: trainer_loop(in_the_loop, copy.deepcopy(initial), data, Path(tmp) / "in_the_loop"),
            "dltrain trainer, default logging":
                lambda: trainer_loop(default, copy.deepcopy(initial), data, Path(tmp) / "default"),
            # the loggers alone: what default logging costs beyond its checkpoints
            "dltrain, default logging, no checkpoints":
                lambda: trainer_loop(no_checkpoints, copy.deepcopy(initial), data, Path(tmp) / "no_checkpoints"),
        }
        return timed_rounds(loops, repeats)


def print_table(title: str, rates: dict) -> None:
    baseline = rates["plain PyTorch loop"]
    print(f"\n{title}")
    print(f"| {'loop':42} | {'best steps/CPU-s':>16} | {'median ratio (CPU)':>18} | {'best steps/s (wall)':>19} "
          f"| {'median ratio (wall)':>19} |")
    print(f"|{'-' * 44}|{'-' * 17}:|{'-' * 19}:|{'-' * 20}:|{'-' * 20}:|")
    for name, values in rates.items():
        print(f"| {name:42} | {max(values['cpu']):16.3g} | {median_ratio(values['cpu'], baseline['cpu']):17.3f}x "
              f"| {max(values['wall']):19.3g} | {median_ratio(values['wall'], baseline['wall']):18.3f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--resnet-repeats", type=int, default=3, help="rounds of the ResNet-18 table (0: skip it)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    warnings.filterwarnings("ignore")  # Lightning's advice on workers and deprecations is not part of the table

    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    rates = workload(args.model, args.epochs, args.repeats, [], lightning=True)
    print_table(f"model={args.model}, digits, batch 64, {args.epochs} epochs", rates)
    if args.resnet_repeats:
        rates = workload("resnet18", 2, args.resnet_repeats, ["data.image_size=32"], lightning=False, limit=3,
                         val_limit=2)
        print_table("model=resnet18, digits at 32 px, batch 64, 2 epochs of 3 training and 2 validation batches "
                    "(134 MB checkpoints)", rates)


if __name__ == "__main__":
    main()
