"""Classifiers learn on real offline data (slow: a few epochs each on the digits).

One learning run per architecture family fits the CI budget; deeper variants of a family
(resnet34/101/152, vgg13/16/19, vit_tiny/small/base) share the block code trained here, and
`python scripts/classifier_table.py` trains every config. AlexNet, NiN, EfficientNet-B0,
MobileNet v3 and ViT do not yet reach 0.5 in this short recipe (docs/models.md): open work.
(ViT's blocks learn in the MAE fine-tuning test, tests/selfsup/.)
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "classifier_table.py"
spec = importlib.util.spec_from_file_location("classifier_table", SCRIPT)
classifier_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(classifier_table)

LEARNERS = ["mlp", "lenet", "googlenet", "inception_v3", "densenet121", "mobilenet_v1", "mobilenet_v2",
            "resnet18", "resnet50", "resnext50_32x4d", "se_resnet50", "shufflenet_v2", "squeezenet1_1", "stn",
            "spp_net", "swin_t", "vgg11_bn"]


@pytest.mark.slow
@pytest.mark.parametrize("name", LEARNERS)
def test_classifier_learns_the_digits_well_above_chance(name, tmp_path):
    row = classifier_table.train_one(name, epochs=4, image_size=8, run_dir=tmp_path)
    assert row["val_acc"] > 0.5, row  # chance is 0.1 (ten balanced classes)
