"""Image folders in their three layouts, segmentation folders and COCO JSON: what each finds in the files."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from dltrain.data.vision.classification import ImageFolderData
from dltrain.data.vision.coco_json import CocoJsonData
from dltrain.data.vision.segmentation_folder import SegmentationFolderData
from dltrain.data.vision.shapes import SHAPE_CLASSES, generate_shapes
from dltrain.errors import UserError

from .files import digits_image_folder


def sizes(data) -> list[int]:
    return [len(d) for d in (data.train_dataset, data.val_dataset, data.test_dataset)]


def test_class_folders_alone_are_split_and_their_facts_found(tmp_path):
    data = ImageFolderData(str(digits_image_folder(tmp_path / "digits", per_class=20)), seed=0)
    data.setup()
    assert data.facts()["class_names"] == [str(d) for d in range(10)]
    assert (data.in_channels, data.image_size, data.num_classes) == (1, 8, 10)
    assert sizes(data) == [139, 31, 30]  # about 15% validation and 15% test, cut by class
    image, label = data.train_dataset[0]
    assert image.shape == (1, 8, 8) and 0 <= label < 10


def test_train_and_val_folders_are_used_as_given(tmp_path):
    for split, count in (("train", 6), ("val", 2)):
        for name, colour in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                Image.new("RGB", (40, 30), colour).save(folder / f"{index}.jpg")
    data = ImageFolderData(str(tmp_path), seed=0)
    data.setup()
    assert sizes(data) == [12, 4, 4]  # no test/: the validation images double as test images
    assert (data.in_channels, data.image_size, data.class_names) == (3, 30, ["blue", "red"])
    assert data.mean == [0.485, 0.456, 0.406]  # ImageNet's, for RGB


def test_a_csv_of_paths_and_labels_is_a_layout_too(tmp_path):
    root = digits_image_folder(tmp_path / "digits", per_class=4)
    rows = ["path,label,split"] + [f"{p.relative_to(root)},{'even' if int(p.parent.name) % 2 == 0 else 'odd'},"
                                   f"{'val' if int(p.stem) % 4 == 0 else 'train'}" for p in sorted(root.rglob("*.png"))]
    (root / "labels.csv").write_text("\n".join(rows))
    data = ImageFolderData(labels=str(root / "labels.csv"), seed=0)
    data.setup()
    assert data.class_names == ["even", "odd"] and sum(sizes(data)[:2]) == 40


def test_a_corrupt_image_is_named_before_training(tmp_path):
    root = digits_image_folder(tmp_path / "digits", per_class=3)
    (root / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(UserError, match=r"3/broken.png cannot be read as an image .* remove it from data.root"):
        ImageFolderData(str(root)).setup()


def test_segmentation_folder_finds_the_classes_in_the_masks(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for index, sample in enumerate(generate_shapes(20, 32, seed=1)):
        Image.fromarray(sample["image"].permute(1, 2, 0).numpy()).save(tmp_path / "images" / f"{index}.jpg")
        Image.fromarray(sample["semantic"].numpy().astype("uint8")).save(tmp_path / "masks" / f"{index}.png")
    data = SegmentationFolderData(str(tmp_path), seed=0)
    data.setup()
    assert (data.num_classes, data.in_channels, data.image_size) == (4, 3, 32) and sizes(data) == [14, 3, 3]
    image, mask = data.train_dataset[0]
    assert image.shape == (3, 32, 32) and mask.dtype == torch.int64 and int(mask.max()) < 4
    (tmp_path / "masks" / "0.png").unlink()
    with pytest.raises(UserError, match=r"0.jpg has no mask in .*masks"):
        SegmentationFolderData(str(tmp_path)).setup()


def test_coco_json_names_the_classes_and_numbers_them_from_one(tmp_path):
    images, annotations = [], []
    for index, sample in enumerate(generate_shapes(10, 48, seed=2)):
        Image.fromarray(sample["image"].permute(1, 2, 0).numpy()).save(tmp_path / f"{index}.png")
        images.append({"id": index + 1, "file_name": f"{index}.png", "width": 48, "height": 48})
        for (x1, y1, x2, y2), label in zip(sample["boxes"].tolist(), sample["labels"].tolist()):
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1, "category_id": 10 * label,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    categories = [{"id": 10 * (k + 1), "name": name} for k, name in enumerate(SHAPE_CLASSES)]
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    data = CocoJsonData(str(tmp_path), str(path), seed=0)
    data.setup()
    assert data.facts()["class_names"] == list(SHAPE_CLASSES) and data.num_classes == 3 and data.image_size == 48
    labels = torch.cat([data.train_dataset[i][1]["labels"] for i in range(len(data.train_dataset))])
    assert set(labels.tolist()) <= {1, 2, 3}  # category ids 10, 20, 30 renumbered
    (tmp_path / "3.png").unlink()
    with pytest.raises(UserError, match="lists 3.png, which is not in"):
        CocoJsonData(str(tmp_path), str(path)).setup()
