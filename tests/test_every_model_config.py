"""Every model config, as a user composes it: built with a small offline data set of its task family, one
training step and one validation step through the trainer, the task's metrics computed.

The model files' own tests check shapes, papers and learning; this is the one place that walks the whole
config tree, so a config that no longer composes, builds or steps shows here whatever its family. The image
classifiers but the MLP are left to tests/models/: test_every_classifier_config.py steps each one in the fast
suite and test_classifiers_learn.py trains each one through this same trainer to well above chance (slow; a
test there fails when a classifier config has no recipe). The big segmentation / detection / translation
backbones, which take seconds to build or step on a CPU, run with ``-m slow``; every other config runs in the
fast suite.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from helpers import load_script

from dltrain import api
from dltrain.launch import run
from dltrain.launch.config import CONFIG_DIR

ALL_MODELS = sorted(p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml"))
IMAGE_CLASSIFIERS = set(load_script("classifier_table").classifier_names()) - {"mlp"}
MODELS = [name for name in ALL_MODELS if name not in IMAGE_CLASSIFIERS]  # left to tests/models/
HEAVY = {"fcn8s", "fcn32s", "pspnet", "deeplabv3", "deeplabv3plus", "faster_rcnn", "mask_rcnn", "retinanet",
         "seq2seq_attention", "transformer"}


def task_family(model: str) -> str:
    """The task class a model config brings (read from the files: composing 80 configs takes a minute)."""
    text = (Path(CONFIG_DIR) / "model" / f"{model}.yaml").read_text()
    task = re.search(r"/task@_global_.task: (\w+)", text).group(1)
    target = re.search(r"^_target_: (\S+)", (Path(CONFIG_DIR) / "task" / f"{task}.yaml").read_text(), re.M).group(1)
    return target.rsplit(".", 1)[1]


def slow_if_heavy(name: str):
    heavy = name in HEAVY or (task_family(name) == "ClassificationTask" and name != "mlp")  # ViT-MAE fine-tuning
    return pytest.param(name, marks=pytest.mark.slow) if heavy else name

# the smallest offline data of each task family (the task comes with the model config)
DATA = {
    "ClassificationTask": ["data=digits"],
    # batch 2: one step of a full-width VGG FCN on 16 images of 64 px took 25 s to backpropagate
    "SegmentationTask": ["data=shapes_seg", "data.num_train=4", "data.num_val=2", "data.num_test=2",
                         "data.batch_size=2"],
    "DetectionTask": ["data=shapes_det", "data.num_train=4", "data.num_val=2", "data.num_test=2",
                      "data.batch_size=2"],
    "LanguageModelTask": ["data=python_chars"],
    "TranslationTask": ["data=dates", "data.num_examples=300"],
    "TextClassificationTask": ["data=story_sentiment"],
    "BertPretrainingTask": ["data=nsp_corpus", "data.num_stories=60"],
    "TimeSeriesTask": ["data=sine"],
    "RegressionTask": ["data=diabetes"],
    "BinaryClassificationTask": ["data=breast_cancer"],
    "NodeClassificationTask": ["data=karate_club"],
    "LinkPredictionTask": ["data=karate_club"],
    "GraphClassificationTask": ["data=cycles_vs_trees", "data.num_graphs=60"],
    "GANTask": ["data=digits", "task.classifier_steps=5"],
    "WGANGPTask": ["data=digits", "task.classifier_steps=5"],
    "ConditionalGANTask": ["data=digits", "task.classifier_steps=5"],
    "AutoencoderTask": ["data=digits"],
    "MaskedAutoencoderTask": ["data=digits"],
    "Pix2PixTask": ["data=digits_edges2digits"],
    "CycleGANTask": ["data=digits_thin2thick"],
}
ONE_STEP = ["trainer.fast_dev_run=1", "logger=none", "callbacks=none", "test=false", "trainer.enable_progress_bar=false"]


def test_every_task_family_of_the_model_configs_has_data_here():
    families = {task_family(name) for name in MODELS}
    assert families <= set(DATA), families - set(DATA)
    assert len(ALL_MODELS) > 80 and len(MODELS) > 40
    assert task_family("unet") == api.compose(["model=unet"]).task._target_.rsplit(".", 1)[1]


@pytest.mark.parametrize("name", [slow_if_heavy(name) for name in MODELS])
def test_model_config_builds_trains_one_step_and_validates(name, tmp_path):
    cfg = api.compose([f"model={name}", *DATA[task_family(name)], *ONE_STEP])
    results = run.train(cfg, tmp_path)
    final = results["final"]
    assert math.isfinite(final["train/loss_epoch"]), final
    assert cfg.task.monitor in final and math.isfinite(final[cfg.task.monitor]), final
    assert results["params"] > 0 and results["flops_per_sample"] >= 0
