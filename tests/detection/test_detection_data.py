"""Detection data: box-aware flip / resize, collate, the generated shapes, offline errors."""
from __future__ import annotations

import pytest
import torch

from dltrain.data.vision.detection import (
    CocoDetectionData,
    DetectionDataset,
    ShapesDetectionData,
    VOCDetectionData,
    as_tv_target,
    detection_collate,
    detection_transform,
)
from dltrain.data.vision.shapes import generate_shapes
from dltrain.errors import UserError


def _shape_samples(n: int = 4) -> list[tuple[torch.Tensor, dict]]:
    return [(s["image"], as_tv_target(s["boxes"], s["labels"], (64, 64), s["masks"]))
            for s in generate_shapes(n, image_size=64, seed=3)]


def _mask_extent(mask: torch.Tensor) -> torch.Tensor:
    rows, cols = mask.any(dim=1).nonzero()[:, 0], mask.any(dim=0).nonzero()[:, 0]
    return torch.tensor([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=torch.float32)


@pytest.mark.parametrize("image_size", [64, 96])
def test_flip_and_resize_keep_boxes_on_their_objects(image_size):
    dataset = DetectionDataset(_shape_samples(), detection_transform(image_size, train=True))
    flipped = unflipped = 0
    for seed in range(8):
        torch.manual_seed(seed)
        image, target = dataset[0]
        assert image.shape == (3, image_size, image_size) and image.dtype == torch.float32
        for box, mask in zip(target["boxes"], target["masks"]):
            # the box is still the extent of its (moved) mask, up to the resize's rounding
            assert torch.allclose(box, _mask_extent(mask), atol=1.5 * image_size / 64), (box, _mask_extent(mask))
        original = _shape_samples(1)[0][1]["boxes"][0] * image_size / 64
        if torch.allclose(target["boxes"][0], original, atol=1e-3):
            unflipped += 1
        else:  # a horizontal flip maps x1, x2 to W - x2, W - x1
            expected = torch.stack([image_size - original[2], original[1], image_size - original[0], original[3]])
            assert torch.allclose(target["boxes"][0], expected, atol=1e-3)
            flipped += 1
    assert flipped and unflipped


def test_validation_transform_never_flips():
    source = _shape_samples(1)
    dataset = DetectionDataset(source, detection_transform(64, train=False))
    for _ in range(5):
        assert torch.equal(dataset[0][1]["boxes"], source[0][1]["boxes"].as_subclass(torch.Tensor))


def test_collate_keeps_per_image_targets():
    dataset = DetectionDataset(_shape_samples(3), detection_transform(64, train=False))
    images, targets = detection_collate([dataset[i] for i in range(3)])
    assert len(images) == len(targets) == 3
    for i in range(3):
        assert torch.equal(targets[i]["boxes"], dataset[i][1]["boxes"])
        assert torch.equal(targets[i]["labels"], dataset[i][1]["labels"])
        assert len(targets[i]["masks"]) == len(targets[i]["boxes"])
        assert type(targets[i]["boxes"]) is torch.Tensor  # plain tensors, not tv_tensors


def test_shapes_det_splits_differ_and_labels_are_one_based():
    data = ShapesDetectionData(num_train=6, num_val=4, num_test=4, with_masks=False, batch_size=2)
    data.setup()
    images, targets = next(iter(data.val_dataloader()))
    assert len(images) == 2 and all("masks" not in t for t in targets)
    labels = torch.cat([t["labels"] for t in targets])
    assert labels.min() >= 1 and labels.max() <= 3
    assert not torch.equal(data.train_dataset[0][0], data.val_dataset[0][0])


def test_class_names_must_match_num_classes():
    with pytest.raises(UserError, match="num_classes"):
        ShapesDetectionData(num_classes=2, class_names=["circle", "square", "triangle"])


def test_voc_and_coco_fail_offline_in_one_sentence(tmp_path):
    with pytest.raises(UserError, match="Pascal VOC 2012 is not in"):
        VOCDetectionData(root=str(tmp_path), download=False, num_classes=20, image_size=64).setup()
    with pytest.raises(UserError, match="COCO split train2017 needs"):
        CocoDetectionData(root=str(tmp_path), num_classes=90, image_size=64).setup()
