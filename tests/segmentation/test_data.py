"""The generated shapes and the joint image / mask transforms."""
from __future__ import annotations

import torch

from dltrain.data.vision.segmentation import build_joint_transform
from dltrain.data.vision.shapes import generate_shapes


def test_shapes_are_deterministic_and_targets_agree():
    first, again = generate_shapes(8, 32, seed=3), generate_shapes(8, 32, seed=3)
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(first, again))
    assert not torch.equal(first[0]["image"], generate_shapes(1, 32, seed=4)[0]["image"])
    for sample in first:
        assert sample["image"].shape == (3, 32, 32) and sample["image"].dtype == torch.uint8
        masks, labels = sample["masks"], sample["labels"]
        assert len(masks) == len(labels) == len(sample["boxes"]) >= 1
        assert (masks.sum(0) <= 1).all()  # occlusion: every pixel belongs to at most one object
        rebuilt = torch.zeros(32, 32, dtype=torch.long)
        for mask, label, (x1, y1, x2, y2) in zip(masks, labels, sample["boxes"].long()):
            rebuilt[mask] = label
            ys, xs = mask.nonzero(as_tuple=True)
            assert (x1, y1, x2, y2) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert torch.equal(rebuilt, sample["semantic"])


def test_mask_follows_the_image_under_crop_and_flip():
    torch.manual_seed(0)
    # the mask is a function of the image (pixel value 200 <-> class 1), so any geometric
    # mismatch between the two shows up as a disagreement
    image = torch.zeros(3, 20, 20, dtype=torch.uint8)
    image[:, 3:9, 2:14] = 200
    mask = (image[0] == 200).long()
    transform = build_joint_transform(16, (0.0,) * 3, (1.0,) * 3, train=True, resize=False,
                                      random_crop_padding=4, horizontal_flip=True)
    flipped_or_cropped = 0
    for _ in range(20):
        out_image, out_mask = transform(image, mask)
        assert out_image.shape == (3, 16, 16) and out_mask.shape == (16, 16) and out_mask.dtype == torch.long
        padded = out_mask == 255
        assert torch.equal((out_image[0] > 0.5)[~padded], (out_mask == 1)[~padded])
        assert set(out_mask.unique().tolist()) <= {0, 1, 255}  # nearest interpolation: no blended classes
        flipped_or_cropped += not torch.equal(out_mask, mask[2:18, 2:18])
    assert flipped_or_cropped > 10


def test_rescaled_mask_stays_on_the_image_and_keeps_its_classes():
    torch.manual_seed(0)
    image = torch.zeros(3, 40, 40, dtype=torch.uint8)
    image[:, 8:30, 4:20] = 200
    mask = (image[0] == 200).long() * 3
    transform = build_joint_transform(32, (0.0,) * 3, (1.0,) * 3, train=True, scale=(0.7, 1.4),
                                      horizontal_flip=True)
    for _ in range(10):
        out_image, out_mask = transform(image, mask)
        assert set(out_mask.unique().tolist()) <= {0, 3, 255}  # nearest interpolation: no blended classes
        valid = out_mask != 255
        # bilinear image edges blur by a pixel; everywhere else image and mask agree
        agree = ((out_image[0] > 0.5) == (out_mask == 3))[valid].float().mean()
        assert agree > 0.9


def test_eval_transform_is_deterministic():
    image, mask = torch.randint(0, 255, (3, 24, 24), dtype=torch.uint8), torch.randint(0, 4, (24, 24))
    transform = build_joint_transform(24, (0.5,) * 3, (0.25,) * 3, train=False)
    a, b = transform(image, mask), transform(image, mask)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], mask)
    torch.testing.assert_close(a[0], (image / 255 - 0.5) / 0.25)
