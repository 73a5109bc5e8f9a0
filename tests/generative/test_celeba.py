"""CelebA for the GANs: offline error, the official split, the face crop, one attribute as the label,
and DCGAN adapting to CelebA's 64 px / CIFAR-10's 32 px colour images.

CelebA cannot be downloaded here. A miniature copy in torchvision's layout
(a few generated photos, annotation files in the real formats) exercises the
real ``torchvision.datasets.CelebA`` parser; only its MD5 check of the
annotation files is switched off, since the miniature files differ from the real ones.
"""
from __future__ import annotations

import functools
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from hydra.utils import instantiate
from PIL import Image
from test_errors import assert_clean_error
from torch.utils.data import TensorDataset

from dltrain import api
from dltrain.data.vision.celeba import CelebAData
from dltrain.engine.optimization import Optimization
from dltrain.engine.schedulers import constant
from dltrain.errors import UserError
from dltrain.launch import build

ATTRIBUTES = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
              "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair "
              "Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face "
              "Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair "
              "Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()
PARTITION = [0] * 6 + [1] * 3 + [2] * 3  # 6 train, 3 valid, 3 test photos


def is_male(index: int) -> bool:
    return index % 2 == 1


def write_miniature_celeba(root: Path) -> None:
    """root/celeba/ as torchvision expects it. Each 178x218 photo is white in the 20 rows above and below its
    central 178x178 square and dark grey inside, so the crop is visible in the pixels."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(len(PARTITION))]
    for name in names:
        photo = np.full((218, 178, 3), 255, dtype=np.uint8)
        photo[20:198] = 40
        Image.fromarray(photo).save(folder / "img_align_celeba" / name, quality=95)

    def rows(values) -> str:  # "000001.jpg v1 v2 ...", values(i) for the i-th photo
        return "".join(f"{name} {' '.join(map(str, values(i)))}\n" for i, name in enumerate(names))

    count = f"{len(names)}\n"
    (folder / "list_eval_partition.txt").write_text(rows(lambda i: [PARTITION[i]]))
    (folder / "identity_CelebA.txt").write_text(rows(lambda i: [100 + i]))
    (folder / "list_bbox_celeba.txt").write_text(count + "image_id x_1 y_1 width height\n"
                                                 + rows(lambda i: [95, 71, 226, 313]))
    landmarks = ("lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y "
                 "leftmouth_x leftmouth_y rightmouth_x rightmouth_y")
    (folder / "list_landmarks_align_celeba.txt").write_text(count + landmarks + "\n" + rows(lambda i: [70] * 10))
    male = ATTRIBUTES.index("Male")
    (folder / "list_attr_celeba.txt").write_text(
        count + " ".join(ATTRIBUTES) + " \n"  # the real header ends in a space
        + rows(lambda i: [1 if a == male and is_male(i) else -1 for a in range(40)]))


@pytest.fixture
def miniature(tmp_path, monkeypatch) -> Path:
    write_miniature_celeba(tmp_path)
    monkeypatch.setattr(torchvision.datasets.CelebA, "_check_integrity", lambda self: True)
    return tmp_path


def celeba(root: Path, **options) -> CelebAData:
    data = instantiate(api.compose(["data=celeba", f"data.root={root}", "data.num_workers=0",
                                    *[f"data.{k}={v}" for k, v in options.items()]]).data)
    data.setup()
    return data


def test_offline_celeba_says_where_to_put_the_files(cli):
    result = cli("model=dcgan", "data=celeba", "data.download=false", ok=False)
    assert_clean_error(result, "CelebA is not on disk", "celeba/ (img_align_celeba/", "list_eval_partition.txt")


def test_celeba_uses_the_official_split_crops_the_face_and_labels_one_attribute(miniature):
    data = celeba(miniature)
    assert [len(d) for d in (data.train_dataset, data.val_dataset, data.test_dataset)] == [6, 3, 3]
    image, label = data.train_dataset[0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    # only the dark central square is left, in [-1, 1]: 40 / 255 * 2 - 1 = -0.69 (JPEG: a few levels off)
    assert image.mean().item() == pytest.approx(40 / 255 * 2 - 1, abs=0.03)
    assert image.max().item() < -0.5
    assert [data.train_dataset[i][1] for i in range(6)] == [int(is_male(i)) for i in range(6)]
    assert [data.val_dataset[i][1] for i in range(3)] == [int(is_male(i)) for i in range(6, 9)]


def test_celeba_image_size_is_configurable(miniature):
    assert celeba(miniature, image_size=32).test_dataset[0][0].shape == (3, 32, 32)


def test_unknown_label_attribute_lists_the_attributes(miniature):
    with pytest.raises(UserError, match="Smiling"):
        celeba(miniature, label_attribute="Smiles")


@pytest.mark.parametrize("overrides, shape", [
    (["data=celeba"], (3, 64, 64)),
    (["data=celeba", "data.image_size=32"], (3, 32, 32)),
    (["data=cifar10"], (3, 32, 32)),
])
def test_dcgan_adapts_to_the_data_and_trains_a_step(overrides, shape):
    """``dltrain model=dcgan data=...`` composes into a DCGAN of the data's size and channels; one training
    step on images of that shape (random: nothing is downloaded) moves both networks, and validation scores."""
    cfg = api.compose(["model=dcgan", *overrides])
    assert (cfg.model.in_channels, cfg.model.image_size) == (shape[0], shape[1])
    task = build.build_task(cfg)
    task.classifier_steps = 5
    images = torch.rand(8, *shape) * 2 - 1
    labels = torch.arange(8) % cfg.data.num_classes
    stand_in = types.SimpleNamespace(mean=cfg.data.mean, std=cfg.data.std, in_channels=cfg.data.in_channels,
                                     num_classes=cfg.data.num_classes, train_dataset=TensorDataset(images, labels),
                                     seed=0)
    task.check_data(stand_in)
    assert task.model.generator(task.model.noise(2)).shape == (2, *shape)
    optim = Optimization.build(task.optimizer_groups(), functools.partial(torch.optim.Adam, lr=2e-4), constant,
                               total_steps=1, steps_per_epoch=1, device_type="cpu")
    before = {name: [p.detach().clone() for p in getattr(task.model, name).parameters()]
              for name in ("generator", "discriminator")}
    out = task.training_step((images, labels), 0, optim)
    assert all(torch.isfinite(v) for v in out["log"].values())
    for name, params in before.items():
        assert any(not torch.equal(a, b) for a, b in zip(params, getattr(task.model, name).parameters())), name
    task.eval()
    with torch.no_grad():
        task.validation_step((images, labels), 0)
        distance = task.compute_metrics("val")["val/frechet_distance"]
    assert np.isfinite(distance) and distance > 0


def test_dcgan_trains_an_epoch_on_celeba_files(miniature):
    """The whole run, data module included, on the miniature copy: the 64 px DCGAN trains, validates, tests."""
    results = api.train(["model=dcgan", "data=celeba", f"data.root={miniature}", "data.num_workers=0",
                         "data.batch_size=3", "trainer.max_epochs=1", "task.classifier_steps=5",
                         f"paths.output_dir={miniature / 'outputs'}", "logger=csv"])
    assert np.isfinite(results["final"]["val/frechet_distance"])
    assert np.isfinite(results["test"]["test/frechet_distance"])
