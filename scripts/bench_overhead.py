"""Trainer overhead: dltrain's trainer vs a plain hand-written PyTorch loop, same model, data and steps.

    python scripts/bench_overhead.py [--epochs 10] [--repeats 3] [--model mlp]

Both sides train the same model from the same initial weights on the same
offline digits loaders (batch 64, 23 steps per epoch) and validate once per
epoch. The trainer runs with logging off ("bare") and with its defaults
(TensorBoard + CSV + checkpoints, "default"). Prints steps/s, the best of
``--repeats`` runs each, and the ratio to the plain loop.
"""
from __future__ import annotations

import argparse
import copy
import logging
import platform
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from hydra.utils import instantiate

from dltrain import api, run


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
        correct = 0
        with torch.no_grad():
            for images, labels in data.val_dataloader():
                correct += (model(images).argmax(1) == labels).sum().item()
    return steps


def trainer_loop(cfg, model, data, run_dir: Path):
    """Build the trainer from its config (setup, untimed, like composing the config), return its fit()."""
    task = instantiate({"_target_": cfg.task._target_}, model=model, loss=torch.nn.CrossEntropyLoss(),
                       **{k: v for k, v in cfg.task.items() if k != "_target_"})
    trainer = run.build_trainer(cfg, run_dir)
    optimizer, decay = run.split_optimizer_config(cfg)
    scheduler = instantiate(cfg.scheduler)

    def fit() -> int:
        trainer.fit(task, data, optimizer, scheduler, decay)
        trainer.loggers.close()
        return trainer.global_step
    return fit


def best_rate(make_loop, repeats: int) -> float:
    """Best steps/s of ``repeats`` runs; ``make_loop`` does the untimed setup and returns the timed loop."""
    rates = []
    for _ in range(repeats):
        loop = make_loop()
        start = time.perf_counter()
        steps = loop()
        rates.append(steps / (time.perf_counter() - start))
    return max(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="mlp")
    args = parser.parse_args()
    logging.disable(logging.INFO)

    common = [f"model={args.model}", f"trainer.max_epochs={args.epochs}", "scheduler=none", "optimizer=adam",
              "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "trainer.log_histograms=false"]
    bare = api.compose(common + ["logger=none", "callbacks=none"])
    default = api.compose(common)
    data = run.build_data(bare)
    torch.manual_seed(0)
    initial = instantiate(bare.model)

    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            ("plain PyTorch loop", best_rate(lambda: partial(plain_loop, copy.deepcopy(initial), data, args.epochs),
                                             args.repeats)),
            ("dltrain trainer, bare", best_rate(
                lambda: trainer_loop(bare, copy.deepcopy(initial), data, Path(tmp) / "bare"), args.repeats)),
            ("dltrain trainer, default logging", best_rate(
                lambda: trainer_loop(default, copy.deepcopy(initial), data, Path(tmp) / "default"), args.repeats)),
        ]
    baseline = rows[0][1]
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; model={args.model}, digits, batch 64, {args.epochs} epochs")
    print(f"| {'loop':34} | {'steps/s':>8} | {'vs plain':>8} |")
    print(f"|{'-' * 36}|{'-' * 10}:|{'-' * 10}:|")
    for name, rate in rows:
        print(f"| {name:34} | {rate:8.1f} | {rate / baseline:7.3f}x |")


if __name__ == "__main__":
    main()
