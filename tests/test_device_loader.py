"""data.loader=device: the whole dataset on the training device, shuffled, batched and augmented there.

Checked against the classic DataLoader path on the real data modules (digits, and torchvision's MNIST code
reading generated idx files), and through the CLI.
"""
from __future__ import annotations

import json
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import ConcatDataset, Subset

from dltrain import api
from dltrain.data.augment.batch_augment import BatchAugment, FusedNormalize, shift_batch
from dltrain.data.core.device_loader import DeviceLoader, DeviceRecipe, OnDevice, resolve_device
from dltrain.data.core.in_memory import ImageArrays, image_arrays
from dltrain.data.vision.classification import VisionClassificationData
from dltrain.data.vision.digits import DigitsData
from dltrain.data.vision.segmentation import ShapesSegmentationData
from dltrain.engine.environment import pick_device
from dltrain.engine.sharding import Shards
from dltrain.errors import UserError

DIGITS_MEAN, DIGITS_STD = 0.3, 0.37
FLIP_AND_CROP = {"random_crop_padding": 2, "horizontal_flip": True}


def digits(loader: str, seed: int = 3, **options) -> DigitsData:
    data = DigitsData(seed=seed, loader=loader, device="cpu", batch_size=64, **options)
    data.setup()
    return data


def write_mnist(root: Path, num_train: int = 300, num_test: int = 60) -> None:
    """Random images in MNIST's idx format, where torchvision's MNIST class looks for them (no download)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", num_train), ("t10k", num_test)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, count, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, count) + labels.tobytes())


def mnist(root: Path, loader: str, **options) -> VisionClassificationData:
    data = VisionClassificationData(name="MNIST", root=str(root), download=False, num_classes=10, in_channels=1,
                                    image_size=28, native_size=28, mean=[0.1307], std=[0.3081], val_size=50,
                                    batch_size=32, seed=5, loader=loader, device="cpu", **options)
    data.setup()
    return data


def as_uint8(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Undo the normalisation: the exact uint8 pixels a normalised batch came from."""
    return ((images * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)


def samples(loader, mean: float, std: float) -> list[tuple[bytes, int]]:
    """(pixel bytes, label) of every sample of one pass, in order."""
    return [(image.numpy().tobytes(), int(label)) for images, labels in loader
            for image, label in zip(as_uint8(images, mean, std), labels)]


@pytest.mark.parametrize("image_size", [8, 16])
def test_digits_on_device_yield_the_classic_samples_in_the_classic_order(image_size):
    classic, device = digits("classic", image_size=image_size), digits("device", image_size=image_size)
    for epoch in (0, 1):
        seen_classic = samples(classic.train_dataloader(epoch), DIGITS_MEAN, DIGITS_STD)
        seen_device = samples(device.train_dataloader(epoch), DIGITS_MEAN, DIGITS_STD)
        assert Counter(seen_device) == Counter(seen_classic)  # the same multiset of (image, label) per epoch
        assert seen_device == seen_classic  # and even the same order: both draw seed + epoch the same way
    assert samples(device.val_dataloader(), DIGITS_MEAN, DIGITS_STD) == samples(classic.val_dataloader(), DIGITS_MEAN, DIGITS_STD)
    assert samples(device.test_dataloader(), DIGITS_MEAN, DIGITS_STD) == samples(classic.test_dataloader(), DIGITS_MEAN, DIGITS_STD)


def test_torchvision_mnist_arrays_on_device_match_the_classic_pil_path(tmp_path):
    write_mnist(tmp_path)
    classic, device = mnist(tmp_path, "classic"), mnist(tmp_path, "device")
    for make in (lambda d: d.train_dataloader(2), lambda d: d.val_dataloader(), lambda d: d.test_dataloader()):
        expected, got = list(make(classic)), list(make(device))
        assert len(got) == len(expected) == len(make(device))
        for (want_x, want_y), (x, y) in zip(expected, got):
            torch.testing.assert_close(x, want_x, rtol=0, atol=1e-5)  # fused normalisation = ToDtype + Normalize
            assert torch.equal(y, want_y)


def test_batches_have_the_right_shapes_dtypes_and_normalisation():
    data = digits("device")
    batches = list(data.train_dataloader(0))
    train_size = len(data.train_dataset)
    assert len(batches) == len(data.train_dataloader(0)) == -(-train_size // 64)
    assert [len(y) for _, y in batches] == [64] * (len(batches) - 1) + [train_size - 64 * (len(batches) - 1)]
    images, labels = batches[0]
    assert images.shape == (64, 1, 8, 8) and images.dtype == torch.float32 and images.is_contiguous()
    assert labels.dtype == torch.int64 and set(labels.tolist()) <= set(range(10))
    source = data.train_dataset.source_images.float()
    # the normalised data has the mean and spread the config's mean/std describe
    everything = torch.cat([x for x, _ in batches])
    expected_mean = (source / 255 - DIGITS_MEAN).mean() / DIGITS_STD
    assert torch.allclose(everything.mean(), expected_mean, atol=1e-4)
    assert everything.min() == pytest.approx(-DIGITS_MEAN / DIGITS_STD, abs=1e-5)  # a 0 pixel
    dropping = digits("device", drop_last=True)
    assert all(len(y) == 64 for _, y in dropping.train_dataloader(0))


def test_a_fixed_seed_gives_the_same_augmented_epoch_and_epochs_differ():
    first, second = digits("device", augment=FLIP_AND_CROP), digits("device", augment=FLIP_AND_CROP)
    for (x1, y1), (x2, y2) in zip(first.train_dataloader(4), second.train_dataloader(4)):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    epoch4 = torch.cat([y for _, y in first.train_dataloader(4)])
    epoch5 = torch.cat([y for _, y in first.train_dataloader(5)])
    assert not torch.equal(epoch4, epoch5)
    other_seed = torch.cat([y for _, y in digits("device", seed=4, augment=FLIP_AND_CROP).train_dataloader(4)])
    assert not torch.equal(epoch4, other_seed)


def augmented_digits(augment: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(augmented uint8 images, their un-augmented source images) of epoch 0, aligned sample by sample."""
    plain, augmented = digits("device"), digits("device", augment=augment)
    source = torch.cat([as_uint8(x, DIGITS_MEAN, DIGITS_STD) for x, _ in plain.train_dataloader(0)])
    result = torch.cat([as_uint8(x, DIGITS_MEAN, DIGITS_STD) for x, _ in augmented.train_dataloader(0)])
    return result, source


def test_flips_mirror_about_half_of_the_images_and_nothing_else():
    result, source = augmented_digits({"horizontal_flip": True})
    assert result.shape == source.shape
    mirrored = torch.tensor([torch.equal(r, s.flip(-1)) and not torch.equal(r, s) for r, s in zip(result, source)])
    unchanged = torch.tensor([torch.equal(r, s) for r, s in zip(result, source)])
    assert bool((mirrored | unchanged).all())  # every image is itself or its mirror
    assert 0.35 < mirrored.float().mean() < 0.65


def test_random_crops_are_windows_of_the_zero_padded_image():
    padding = 2
    result, source = augmented_digits({"random_crop_padding": padding})
    assert result.shape == source.shape
    padded = torch.nn.functional.pad(source, (padding,) * 4)
    shifted = 0
    for r, p in zip(result, padded):
        offsets = [(dy, dx) for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)
                   if torch.equal(r, p[:, dy:dy + 8, dx:dx + 8])]
        assert offsets, "a crop that is no window of the padded image"
        shifted += (padding, padding) not in offsets
    assert shifted > len(result) // 2  # most images really moved (1 in 25 offsets is the centre)


def test_shift_batch_pads_with_a_constant_or_the_border_and_flips_in_the_same_gather():
    images = torch.arange(1.0, 10.0).view(1, 1, 3, 3).repeat(2, 1, 1, 1)
    offsets = torch.tensor([[0, 2], [1, 1]])  # image 0: content one row down, one column left; image 1: in place
    flips = torch.tensor([False, True])
    constant = shift_batch(images, offsets, 1, fill=-1, flips=flips)
    replicate = shift_batch(images, offsets, 1, pad_mode="replicate", flips=flips)
    assert constant[0, 0].tolist() == [[-1, -1, -1], [2, 3, -1], [5, 6, -1]]
    assert replicate[0, 0].tolist() == [[2, 3, 3], [2, 3, 3], [5, 6, 6]]  # the border repeats (digits' background)
    assert constant[1, 0].tolist() == replicate[1, 0].tolist() == [[3, 2, 1], [6, 5, 4], [9, 8, 7]]
    assert torch.equal(shift_batch(images, None, 1), images)  # no offsets, no flips: unchanged


def test_cutout_zeroes_one_square_of_the_normalised_image():
    erased, plain = digits("device", augment={"cutout": 3}), digits("device")
    x, _ = next(iter(erased.train_dataloader(0)))
    clean, _ = next(iter(plain.train_dataloader(0)))
    changed = x != clean
    assert changed.any() and bool((x[changed] == 0).all())  # erased pixels are 0 after normalisation
    for image, changes in zip(x[:, 0], changed[:, 0]):
        squares = [(i, j) for i in range(6) for j in range(6) if bool((image[i:i + 3, j:j + 3] == 0).all())]
        assert squares  # a whole 3x3 square inside the image is 0
        rows, cols = changes.nonzero(as_tuple=True)
        assert all(any(i <= r < i + 3 and j <= c < j + 3 for i, j in squares) for r, c in zip(rows, cols))


def test_segmentation_masks_move_with_their_images_and_padding_is_ignored():
    images = torch.randint(1, 256, (40, 3, 12, 12), dtype=torch.uint8)  # no 0 pixel: zeros come from padding
    masks = (images[:, 0] % 4).to(torch.uint8)  # each mask pixel says which image pixel it belongs to
    augment = BatchAugment(random_crop_padding=3, horizontal_flip=True, mask_fill=255)
    loader = DeviceLoader(ImageArrays(images, masks), 16, FusedNormalize([0.0] * 3, [1 / 255] * 3, torch.device("cpu")),
                          augment=augment, seed=7)
    moved = 0
    for x, y in loader:
        pixels = x[:, 0].round().long()  # normalisation with mean 0, std 1/255 gives the uint8 values back
        padding = pixels == 0
        assert y.dtype == torch.int64 and y.shape == (len(x), 12, 12)
        assert bool((y[padding] == 255).all()) and bool((y[~padding] == pixels[~padding] % 4).all())
        moved += int(padding.any(dim=(1, 2)).sum())
    assert moved > 0


def test_shapes_segmentation_data_on_device_matches_the_classic_masks():
    options = dict(num_classes=4, image_size=32, num_train=40, num_val=10, num_test=10, batch_size=8,
                   mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    classic = ShapesSegmentationData(**options)
    device = ShapesSegmentationData(**options, loader="device", device="cpu")
    classic.setup()
    device.setup()
    for (want_x, want_y), (x, y) in zip(classic.train_dataloader(1), device.train_dataloader(1)):
        torch.testing.assert_close(x, want_x, rtol=0, atol=1e-5)
        assert torch.equal(y, want_y)


def test_in_memory_arrays_follow_subsets_and_concatenations_as_k_fold_builds_them():
    data = digits("device")
    pooled = ConcatDataset([data.train_dataset, data.val_dataset])
    fold = Subset(pooled, [0, len(data.train_dataset), 5])
    arrays = image_arrays(fold)
    assert torch.equal(arrays.images[0], data.train_dataset.source_images[0])
    assert torch.equal(arrays.images[1], data.val_dataset.source_images[0])
    assert arrays.targets.tolist() == [int(data.train_dataset.labels[0]), int(data.val_dataset.labels[0]),
                                       int(data.train_dataset.labels[5])]
    data.train_dataset = fold  # what cross_validation does per fold: the loader follows the new split
    assert sum(len(y) for _, y in data.train_dataloader(0)) == 3


def test_ddp_shards_on_device_are_the_classic_loaders_shards():
    classic, device = digits("classic"), digits("device")
    for rank in (0, 1):
        classic.shards = device.shards = Shards(rank, 2, shard_eval=True)
        want = samples(classic.train_dataloader(3), DIGITS_MEAN, DIGITS_STD)
        assert samples(device.train_dataloader(3), DIGITS_MEAN, DIGITS_STD) == want
        assert samples(device.val_dataloader(), DIGITS_MEAN, DIGITS_STD) == samples(classic.val_dataloader(), DIGITS_MEAN, DIGITS_STD)
    halves = Counter()
    for rank in (0, 1):  # evaluation shards are not padded: together they hold every sample once
        device.shards = Shards(rank, 2, shard_eval=True)
        halves += Counter(samples(device.val_dataloader(), DIGITS_MEAN, DIGITS_STD))
    device.shards = None
    assert halves == Counter(samples(device.val_dataloader(), DIGITS_MEAN, DIGITS_STD))
    train_halves = []
    for rank in (0, 1):  # training shards are padded to equal length, as DistributedSampler does
        device.shards = Shards(rank, 2, shard_eval=True)
        train_halves.append(sum(len(y) for _, y in device.train_dataloader(0)))
    assert train_halves[0] == train_halves[1] == -(-len(device.train_dataset) // 2)


def test_the_data_goes_where_the_trainer_trains():
    images, labels = next(iter(digits("device").train_dataloader(0)))
    assert images.device == labels.device == torch.device("cpu")
    expected = pick_device("auto")  # the trainer's own choice for trainer.accelerator=auto
    if expected.type == "cuda":
        expected = torch.device("cuda", torch.cuda.current_device())
    assert resolve_device("auto") == expected
    if not torch.cuda.is_available():
        data = DigitsData(loader="device", device="cuda")
        data.setup()
        with pytest.raises(UserError, match="no such device"):
            data.train_dataloader(0)


def test_data_moves_when_training_starts_and_every_op_follows_it():
    # PyTorch's "meta" device stands in for a GPU: a tensor left on the CPU by mistake would fail an op there
    data = digits("classic")
    recipe = DeviceRecipe([DIGITS_MEAN], [DIGITS_STD], 8, {"random_crop_padding": 2, "horizontal_flip": True,
                                                          "cutout": 3})
    on_device = OnDevice(torch.device("meta"), recipe, "DigitsData")
    # before training (the model / data check, mode=eval): host memory, where the model still is
    assert on_device.loader("val", data.val_dataset, 64).arrays.images.device.type == "cpu"
    train = on_device.loader("train", data.train_dataset, 64, seed=1)  # the trainer's first call: data moves
    images, labels = next(iter(train))
    assert images.device.type == labels.device.type == "meta"
    assert images.shape == (64, 1, 8, 8) and images.dtype == torch.float32 and labels.dtype == torch.int64
    val_images, _ = next(iter(on_device.loader("val", data.val_dataset, 64)))
    assert val_images.device.type == "meta"


def test_classic_evaluation_loaders_are_kept_and_tuning_options_reach_the_dataloader(tmp_path):
    write_mnist(tmp_path)
    data = mnist(tmp_path, "classic", num_workers=2, persistent_workers=True, prefetch_factor=3)
    val = data.val_dataloader()
    assert val is data.val_dataloader()  # workers survive between validation passes
    assert val.persistent_workers and val.prefetch_factor == 3 and val.num_workers == 2
    assert data.train_dataloader(0) is not data.train_dataloader(1)  # rebuilt: workers reseeded per epoch
    data.val_dataset = Subset(data.val_dataset, [0, 1])
    assert data.val_dataloader() is not val and len(data.val_dataloader().dataset) == 2


def test_datasets_that_cannot_be_on_device_say_which_can(cli):
    result = cli("data=shapes_det", "model=yolo", "data.loader=device", ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "data=digits, mnist, fashion_mnist, cifar10, cifar100, shapes_seg" in result.stderr
    assert "data.loader=classic" in result.stderr
    data = digits("device", augment={"color_jitter": 0.4})
    with pytest.raises(UserError, match="color_jitter is not available with data.loader=device"):
        data.train_dataloader(0)
    with pytest.raises(UserError, match="data.loader=gpu is not one of classic, device"):
        DigitsData(loader="gpu")


def test_cli_run_with_the_device_loader_learns_digits(cli):
    cli("data.loader=device", "trainer.max_epochs=5", "trainer.log_histograms=false")
    (run,) = (cli.root / "outputs" / "mlp_digits").iterdir()
    results = json.loads((run / "results.json").read_text())
    assert results["best"] > 0.8 and results["test"]["test/acc"] > 0.8  # chance is 0.1
    assert "loader: device" in (run / ".hydra" / "config.yaml").read_text()


def test_speedrun_schedule_is_a_linear_warm_up_then_a_linear_decay_to_zero():
    from dltrain.engine.schedulers import linear

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.4)
    scheduler = linear(optimizer, total_steps=100, steps_per_epoch=10, warmup_epochs=2)
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.02) and rates[19] == pytest.approx(0.4)  # 20 warm-up steps up to the peak
    assert rates[60] == pytest.approx(0.4 * 40 / 80) and rates[99] == pytest.approx(0.4 / 80)  # straight down


def test_cifar10_speedrun_recipe_runs_a_few_batches_on_digits(cli):
    assert api.compose(["experiment=cifar10_speedrun"]).data.batch_size == 512
    # the recipe names a CUDA GPU and CIFAR-10; here: the digits, on the CPU, two batches of 32 (bf16 is emulated
    # on a CPU without bf16 instructions: two batches of 512 took a minute)
    cli("experiment=cifar10_speedrun", "data=digits", "trainer.accelerator=cpu", "trainer.max_epochs=1",
        "data.batch_size=32", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "test=false")
    (run,) = (cli.root / "outputs" / "resnet9_digits").iterdir()
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    assert config.data.loader == "device"
    assert config.data.augment.random_crop_padding == 4 and config.data.augment.horizontal_flip
    assert config.model._target_.endswith("resnet9") and config.loss.label_smoothing == 0.2
    assert config.optimizer.nesterov and config.optimizer.lr == 0.4 and config.scheduler._target_.endswith("linear")
    assert config.trainer.precision == "bf16" and config.trainer.channels_last
    log = (run / "train.log").read_text()
    assert "device     cpu, precision bf16, channels_last" in log and "epoch 1/1" in log
    assert "ResNet9: 6,5" in log  # Page's ResNet-9 has 6.5M parameters
