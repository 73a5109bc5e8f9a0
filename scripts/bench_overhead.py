"""Trainer overhead: dltrain's trainer vs a plain hand-written PyTorch loop, same model, data and steps.

    python scripts/bench_overhead.py [--epochs 10] [--repeats 7] [--model mlp]
    pip install -e ".[bench]"   # adds PyTorch Lightning for its row (never a runtime dependency)

Both sides train the same model from the same initial weights on the same
offline digits loaders (batch 64, 23 steps per epoch) and validate once per
epoch: the plain loop and Lightning compute the validation loss and accuracy,
the trainer its classification task's metrics (also top-5, balanced accuracy
and the confusion matrix). The trainer runs with logging off ("bare") and with its defaults
(TensorBoard + CSV + checkpoints, "default"); PyTorch Lightning, when installed,
runs the same loop with its logging, checkpointing and bars off.

Timing is the process's CPU time (``time.process_time``; everything runs in
this one thread with ``OMP_NUM_THREADS=1``), so time the scheduler gives to
other processes on a shared machine is not charged to whichever loop was
running. The loops take turns within each round, and the ratio to the plain
loop is taken within a round (a round on a busier machine slows every loop of
that round alike); the table prints each loop's best steps/s and the median of
its per-round ratios.
"""
from __future__ import annotations

import argparse
import copy
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


def plain_loop(model, data, epochs: int) -> int:
    """The loop a user would write by hand (what nanoGPT-style code does)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = 0
    for epoch in range(epochs):
        model.train()
        for images, labels in data.train_dataloader(epoch):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
        model.eval()
        loss_sum, correct, count = 0.0, 0, 0
        with torch.no_grad():  # the two numbers every hand-written loop prints: validation loss and accuracy
            for images, labels in data.val_dataloader():
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
            return torch.optim.Adam(self.model.parameters(), lr=1e-3)

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


def timed_rounds(loops: dict, repeats: int) -> dict[str, list[float]]:
    """Steps per CPU-second of each loop in each of ``repeats`` rounds; each round runs every loop once, in turn.

    A loop factory does the untimed setup and returns the timed loop (or None when it cannot run here).
    """
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(repeats):
        for name, make_loop in loops.items():
            loop = make_loop()
            if loop is None:
                continue
            start = time.process_time()
            steps = loop()
            rates[name].append(steps / (time.process_time() - start))
    return {name: values for name, values in rates.items() if values}


def median_ratio(rates: list[float], baseline: list[float]) -> float:
    """The median over rounds of a loop's rate divided by the baseline's rate in the same round."""
    return statistics.median(rate / base for rate, base in zip(rates, baseline))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--model", default="mlp")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    warnings.filterwarnings("ignore")  # Lightning's advice on workers and deprecations is not part of the table

    common = [f"model={args.model}", f"trainer.max_epochs={args.epochs}", "scheduler=none", "optimizer=adam",
              "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "trainer.log_histograms=false"]
    bare = api.compose(common + ["logger=none", "callbacks=none"])
    default = api.compose(common)
    data = build.build_data(bare)
    torch.manual_seed(0)
    initial = instantiate(bare.model)

    with tempfile.TemporaryDirectory() as tmp:
        loops = {
            "plain PyTorch loop": lambda: partial(plain_loop, copy.deepcopy(initial), data, args.epochs),
            "dltrain trainer, bare": lambda: trainer_loop(bare, copy.deepcopy(initial), data, Path(tmp) / "bare"),
            "PyTorch Lightning, bare": lambda: lightning_loop(copy.deepcopy(initial), data, args.epochs),
            "dltrain trainer, default logging":
                lambda: trainer_loop(default, copy.deepcopy(initial), data, Path(tmp) / "default"),
        }
        rates = timed_rounds(loops, args.repeats)
    baseline = rates["plain PyTorch loop"]
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; model={args.model}, digits, batch 64, {args.epochs} epochs")
    print(f"| {'loop':34} | {'best steps/CPU-s':>16} | {'median ratio to plain':>21} |")
    print(f"|{'-' * 36}|{'-' * 17}:|{'-' * 22}:|")
    for name, values in rates.items():
        print(f"| {name:34} | {max(values):16.1f} | {median_ratio(values, baseline):20.3f}x |")


if __name__ == "__main__":
    main()
