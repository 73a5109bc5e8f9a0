"""Trainer throughput with its speed switches: precision, channels_last, torch.compile.

    python scripts/bench_switches.py [--models resnet18 vit] [--device cpu|cuda] [--batch-size 128]
                                     [--steps 20] [--warmup 5] [--peak-tflops 989]

ResNet-18 (small-image stem) and the light ViT (patch 4) train on CIFAR-shaped
synthetic data (50,000 random 32x32x3 images, the same generated set as
scripts/bench_loader.py) through dltrain's own trainer, with the on-device
loader and its crop + flip, exactly as ``dltrain model=... data=cifar10
data.loader=device`` runs. Each row switches one thing on: bf16 autocast,
channels_last (conv nets only), torch.compile. A timing callback starts the
clock after ``--warmup`` optimizer steps (compilation and allocator warm-up
happen there) and stops it ``--steps`` later: wall time on CUDA (synchronising
the GPU at both ends), the process's CPU time on the CPU (run it with
``OMP_NUM_THREADS=1``: a shared machine's other jobs then do not count).

Model FLOP utilisation (MFU) = 3 x forward FLOPs per image (forward + backward,
the usual estimate; forward counted by torch.utils.flop_counter, as the run
summary does) x images/s / the device's peak. The peak is ``--peak-tflops``;
on CUDA it defaults to the dense bf16 figure of the GPU when the name is known
(H100 / H200 SXM 989, A100 312). Every row is measured against that bf16 peak,
so an fp32 row shows how far it stays from what bf16 could do. On the CPU, with
no ``--peak-tflops``, the peak is measured: the best fp32 rate of 2048 x 2048
matrix products per CPU second (what the CPU's BLAS reaches on one core), so MFU
there says how much of the attainable compute a training step uses.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

import torch
from bench_loader import SyntheticCIFAR10, cpu_name, synthetic_cifar
from hydra.utils import instantiate

from dltrain import api
from dltrain.engine.callbacks import Callback
from dltrain.launch import build

KNOWN_BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "RTX 4090": 165.0}


class StepTimer(Callback):
    """Wall time of optimizer steps ``warmup + 1 .. warmup + steps`` (the run's max_steps ends it there)."""

    def __init__(self, warmup: int, steps: int, device: torch.device) -> None:
        self.warmup, self.steps, self.device = warmup, steps, device
        self.started = self.seconds = None

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return time.perf_counter()
        return time.process_time()  # CPU: this process's CPU seconds, so other jobs on the machine do not count

    def on_train_step_end(self, trainer, task) -> None:
        if trainer.global_step == self.warmup:
            self.started = self._now()
        elif trainer.global_step == self.warmup + self.steps:
            self.seconds = self._now() - self.started


def switch_rows(model: str, precisions: list[str]) -> list[tuple[str, list[str]]]:
    """Per precision: plain, + channels_last (conv nets only: a transformer's layers are linear), + compile, both."""
    layouts = [[]] if model == "vit" else [[], ["trainer.channels_last=true"]]
    rows = []
    for precision in precisions:
        for compiled in ([], ["trainer.compile=true"]):
            for layout in layouts:
                switches = [f"trainer.precision={precision}", *layout, *compiled]
                label = " + ".join(["fp32" if precision == "32" else precision]
                                   + [s.split(".")[1].split("=")[0] for s in layout + compiled])
                rows.append((label, switches))
    return rows


def measure(model: str, switches: list[str], args, images, labels, run_dir: Path) -> tuple[float, int]:
    """Images/s over the timed steps and forward FLOPs per image, for one model and set of switches."""
    cfg = api.compose([f"model={model}", "data=cifar10", f"data.batch_size={args.batch_size}",
                       f"trainer.accelerator={args.device}", f"trainer.max_steps={args.warmup + args.steps}", "logger=none",
                       "callbacks=none", "trainer.enable_progress_bar=false", "trainer.log_histograms=false",
                       "trainer.val_every_n_epochs=1000", "scheduler=none", "optimizer=adamw", *switches])
    data = SyntheticCIFAR10(images, labels, val_size=args.batch_size, augment={"random_crop_padding": 4, "horizontal_flip": True},
                            batch_size=args.batch_size, loader="device", device=args.device)
    data.setup()
    task = instantiate({"_target_": cfg.task._target_}, model=instantiate(cfg.model), loss=instantiate(cfg.loss),
                       **{k: v for k, v in cfg.task.items() if k != "_target_"})
    trainer = build.build_trainer(cfg, run_dir)
    timer = StepTimer(args.warmup, args.steps, trainer.device)
    trainer.callbacks.append(timer)
    optimizer, decay = build.split_optimizer_config(cfg)
    trainer.fit(task, data, optimizer, instantiate(cfg.scheduler), decay)
    return args.steps * args.batch_size / timer.seconds, trainer.model_facts["flops_per_sample"]


def peak_tflops(args) -> tuple[float | None, str]:
    """The peak MFU is measured against, and what it is."""
    if args.peak_tflops:
        return args.peak_tflops, "given"
    if args.device == "cpu":
        return measured_matmul_tflops(), "measured fp32 matmul"
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in KNOWN_BF16_PEAK_TFLOPS.items() if key in name), None), "bf16"


def measured_matmul_tflops(size: int = 2048, repeats: int = 10) -> float:
    """Best fp32 TFLOP/s of ``size`` x ``size`` matrix products over ``repeats`` (CPU seconds, as the rows)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up: thread pool and BLAS start-up
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        a @ b
        best = min(best, time.process_time() - started)  # CPU seconds of all threads: a per-core rate, as the rows
    return 2 * size**3 / best / 1e12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "vit"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--precisions", nargs="+", default=None,
                        help="32 / bf16 / fp16; default bf16 and 32 on CUDA, 32 on CPU (bf16 there is emulated on "
                             "CPUs without native bf16 and runs at a small fraction of fp32)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    warnings.filterwarnings("ignore")

    precisions = args.precisions or (["bf16", "32"] if args.device == "cuda" else ["32"])
    images, labels = synthetic_cifar()
    peak, kind = peak_tflops(args)
    print(f"| model | switches | images/s | fwd GFLOPs / image | MFU (of {f'{peak:.3g}' if peak else '-'} TFLOPS, {kind}) |")
    print("|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            for label, switches in switch_rows(model, precisions):
                rate, flops = measure(model, switches, args, images, labels, Path(tmp) / f"{model}-{len(switches)}")
                mfu = f"{3 * flops * rate / (peak * 1e12):.1%}" if peak else "-"
                print(f"| {model} | {label} | {rate:,.0f} | {flops / 1e9:.3f} | {mfu} |", flush=True)
    device = torch.cuda.get_device_name() if args.device == "cuda" else cpu_name()
    print(f"\nmachine: {device}, torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; batch "
          f"{args.batch_size}, {args.steps} timed steps after {args.warmup} warm-up steps, AdamW")


if __name__ == "__main__":
    main()
