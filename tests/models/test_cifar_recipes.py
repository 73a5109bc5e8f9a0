"""The CIFAR-10 recipes (configs/experiment/*_cifar10.yaml) compose as documented and train end to end.

CIFAR-10 is not on the test machine, so the runs swap in the offline digits at CIFAR's shape
(3x32x32, upsampled) for two training batches of 4 images (ViT-S costs ~3 GFLOPs per image): every
piece of the recipe (model, augmentation including MixUp / CutMix, optimizer, warm-up schedule,
clipping) is built and stepped.
"""
from __future__ import annotations

import math

import pytest

from dltrain import api

AT_CIFAR_SHAPE = ["data=digits", "data.image_size=32", "data.in_channels=3", "data.batch_size=4",
                  "trainer=debug", "trainer.fast_dev_run=2",
                  "logger=none", "callbacks=none", "test=false"]

RECIPES = {  # experiment: (model target, optimizer, mixes batches)
    "resnet18_cifar10": ("resnet.resnet18", "SGD", False),
    "vit_s_cifar10": ("vit.vit_small", "AdamW", True),
    "swin_t_cifar10": ("swin.swin_t", "AdamW", True),
}


@pytest.mark.parametrize("name", RECIPES)
def test_cifar10_recipe_states_what_its_comment_says(name):
    cfg = api.compose([f"experiment={name}"])
    target, optimizer, mixes = RECIPES[name]
    assert cfg.data.name == "CIFAR10" and cfg.model._target_.endswith(target)
    assert cfg.optimizer._target_.endswith(optimizer)
    assert cfg.data.augment.random_crop_padding == 4 and cfg.data.augment.horizontal_flip
    assert cfg.scheduler._target_.endswith("cosine") and cfg.scheduler.warmup_epochs > 0
    assert cfg.loss.label_smoothing == 0.1
    # the task reads the batch-mixing options from data.augment by interpolation
    assert (cfg.task.mixup_alpha, cfg.task.cutmix_alpha) == ((0.8, 1.0) if mixes else (0.0, 0.0))


@pytest.mark.parametrize("name", RECIPES)
def test_cifar10_recipe_trains_two_batches_at_cifar_shape(name, tmp_path):
    results = api.train([f"experiment={name}", *AT_CIFAR_SHAPE], run_dir=tmp_path)
    assert results["final"]["train/loss_epoch"] > 0 and math.isfinite(results["final"]["train/loss_epoch"])
    assert 0.0 <= results["final"]["val/acc"] <= 1.0
