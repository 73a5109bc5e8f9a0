"""How long a checkpoint blocks the training loop: synchronous write vs the background writer, per model.

    python scripts/bench_checkpoint.py [--repeats 5] [--folder DIR]

For each model (the MLP of the default run, ResNet-18 and ViT-S built from their configs for 10 classes at
32 px) the state a checkpoint holds is made as the trainer makes it (model weights, Adam's moments after one
step, the generator states), then written `repeats` times with ``trainer.async_checkpoint=false`` (the
training thread writes: temporary file, fsync, rename) and with it on (the training thread only copies the
tensors to CPU memory; a background thread writes). The table gives the median and best blocking time per
write, the size of the file and the ratio. The background write itself still takes its time (the "write s"
column): it overlaps the next epoch's training instead of delaying it. ``--folder`` picks the disk (default:
a temporary folder, often tmpfs: use a folder on the disk runs write to for figures that mean something).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from dltrain import api
from dltrain.checkpoint import rng
from dltrain.checkpoint.writer import CheckpointWriter
from dltrain.launch import build

MODELS = {"mlp (default run)": ["model=mlp"], "resnet18": ["model=resnet18", "data.image_size=32"],
          "vit_small": ["model=vit_small", "data.image_size=32", "model.patch_size=4"]}


def checkpoint_state(overrides: list[str]) -> dict:
    """Model and Adam state after one step, as a checkpoint holds them."""
    cfg = api.compose(overrides)
    model = build.build_model(cfg)
    optimizer = torch.optim.Adam(model.parameters())
    images = torch.randn(2, cfg.data.in_channels, cfg.data.image_size, cfg.data.image_size)
    model(images).sum().backward()
    optimizer.step()
    return {"model": model.state_dict(), "optim": optimizer.state_dict(), "rng": rng.capture_rng()}


def blocking_times(state: dict, folder: Path, background: bool, repeats: int) -> tuple[list[float], list[float]]:
    """(seconds the caller waited, seconds until the file was on disk) per write."""
    writer = CheckpointWriter(background)
    blocked, total = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        writer.write(state, folder / "last.ckpt", also=[folder / "best.ckpt"])
        blocked.append(time.perf_counter() - started)
        writer.wait()
        total.append(time.perf_counter() - started)
    return blocked, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        folder = Path(folder)
        print(f"{'model':18s} {'file MB':>8s} {'sync blocks s':>14s} {'async blocks s':>15s} {'(best)':>8s} "
              f"{'cut':>7s} {'write s':>8s}")
        for name, overrides in MODELS.items():
            state = checkpoint_state(overrides)
            sync, _ = blocking_times(state, folder, False, args.repeats)
            size = (folder / "last.ckpt").stat().st_size / 1e6
            asynchronous, written = blocking_times(state, folder, True, args.repeats)
            ratio = statistics.median(sync) / statistics.median(asynchronous)
            print(f"{name:18s} {size:8.1f} {statistics.median(sync):14.4f} {statistics.median(asynchronous):15.4f} "
                  f"{min(asynchronous):8.4f} {ratio:6.1f}x {statistics.median(written):8.3f}")
    print(f"(median of {args.repeats} writes; {torch.get_num_threads()} torch threads; folder {args.folder or 'tmp'})")


if __name__ == "__main__":
    main()
