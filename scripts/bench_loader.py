"""Input pipeline: images/s of the on-device loader vs the classic DataLoader + torchvision transforms.

    python scripts/bench_loader.py [--batch-size 512] [--workers 0 2] [--devices cpu cuda] [--cutout 0]

The data is CIFAR-shaped and made here (the real CIFAR-10 is not needed):
50,000 random 32x32x3 uint8 images with labels, served by the project's own
CIFAR data module (``VisionClassificationData``, ``val_size=0`` so all 50,000
are training images) with the augmentation of ``data=cifar10``: random crop
with 4 px zero padding, horizontal flip, normalisation (``--cutout 8`` adds
CutOut). Rows, one training epoch each (all batches produced and, on a GPU,
finished):

* ``classic, PIL``: ``data.loader=classic`` as ``data=cifar10`` runs it:
  torchvision's CIFAR10 item (a PIL image per sample) -> transforms.v2 ->
  DataLoader collation, with ``--workers`` processes;
* ``classic, tensor``: the same transforms on uint8 tensors per sample (the
  in-memory ``TensorImageDataset`` path of ``data=digits``);
* ``device``: ``data.loader=device`` on each of ``--devices``: the uint8
  array moved to the device once (counted in the epoch), then index, crop,
  flip and normalise whole batches there.

Prints a markdown table (images/s, and the speed-up over the classic PIL row
with the most workers) and the machine it ran on.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
import torchvision

from dltrain.data.core.tensor_dataset import TensorImageDataset
from dltrain.data.vision.classification import VisionClassificationData

NUM_IMAGES = 50_000
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.247, 0.2435, 0.2616)


class SyntheticCIFAR10(VisionClassificationData):
    """The project's CIFAR-10 module over generated images: torchvision's own CIFAR10 item code, no files."""

    def __init__(self, images: np.ndarray, labels: list[int], val_size: int = 0, **options) -> None:
        super().__init__(name="CIFAR10", root=".", num_classes=10, in_channels=3, image_size=32, native_size=32,
                         mean=CIFAR10_MEAN, std=CIFAR10_STD, download=False, val_size=val_size, **options)
        self.images, self.labels = images, labels

    def _open(self, train: bool) -> torchvision.datasets.CIFAR10:
        dataset = torchvision.datasets.CIFAR10.__new__(torchvision.datasets.CIFAR10)  # skip the file checks
        dataset.root, dataset.train, dataset.transform, dataset.target_transform = ".", train, None, None
        dataset.transforms = None
        dataset.data, dataset.targets = self.images, self.labels
        return dataset


def synthetic_cifar(seed: int = 0) -> tuple[np.ndarray, list[int]]:
    generator = np.random.default_rng(seed)
    images = generator.integers(0, 256, size=(NUM_IMAGES, 32, 32, 3), dtype=np.uint8)  # CIFAR's NHWC layout
    return images, generator.integers(0, 10, size=NUM_IMAGES).tolist()


def epoch_seconds(loader, device: torch.device | None = None) -> float:
    started = time.perf_counter()
    count = 0
    for images, labels in loader:
        count += len(labels)
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    assert count == NUM_IMAGES, f"an epoch gave {count} images"
    return seconds


def cpu_name() -> str:
    try:
        lines = open("/proc/cpuinfo").read().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--cutout", type=int, default=0)
    args = parser.parse_args()

    images, labels = synthetic_cifar()
    augment = {"random_crop_padding": 4, "horizontal_flip": True, "cutout": args.cutout}
    rows: list[tuple[str, float]] = []

    for workers in args.workers:
        data = SyntheticCIFAR10(images, labels, augment=augment, batch_size=args.batch_size, num_workers=workers)
        data.setup()
        rows.append((f"classic, PIL per sample, DataLoader num_workers={workers}",
                     epoch_seconds(data.train_dataloader(0))))

    data.setup()  # the tensor path: the same transform on uint8 tensors, as data=digits does
    tensor_images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    data.train_dataset = TensorImageDataset(tensor_images, torch.tensor(labels), data._transform(train=True))
    for workers in args.workers:
        data.num_workers = workers
        rows.append((f"classic, tensor per sample, DataLoader num_workers={workers}",
                     epoch_seconds(data.train_dataloader(0))))

    for device_name in args.devices:
        data = SyntheticCIFAR10(images, labels, augment=augment, batch_size=args.batch_size, loader="device",
                                device=device_name)
        data.setup()
        device = torch.device(device_name)
        rows.append((f"device ({device_name}): whole array on the device, batch ops",
                     epoch_seconds(data.train_dataloader(0), device)))

    baseline = min(seconds for name, seconds in rows if name.startswith("classic, PIL"))
    print(f"\nOne epoch of {NUM_IMAGES:,} CIFAR-shaped images, batch {args.batch_size}, crop(pad 4) + flip"
          f"{f' + cutout {args.cutout}' if args.cutout else ''} + normalise\n")
    print("| loader | images/s | epoch s | vs classic PIL (best workers) |")
    print("|---|---:|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {NUM_IMAGES / seconds:,.0f} | {seconds:.2f} | {baseline / seconds:.1f}x |")
    gpu = f", {torch.cuda.get_device_name()}" if "cuda" in args.devices else ""
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPU cores ({cpu_name()}){gpu}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}")


if __name__ == "__main__":
    main()
