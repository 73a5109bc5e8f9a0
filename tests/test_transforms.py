"""The torch-only transform of in-memory images equals torchvision's ToImage + ToDtype + Normalize bit for bit."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from dltrain.data.augment.transforms import ScaleNormalize, build_image_transform


def torchvision_pipeline(mean, std):
    return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])


def test_scale_normalize_equals_torchvision_on_tensors_and_pil_images():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    rgb = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for image, mean, std in ((torch.from_numpy(grey)[None], [0.3], [0.37]),
                             (Image.fromarray(grey), [0.1307], [0.3081]),
                             (Image.fromarray(rgb), [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]),
                             (torch.rand(3, 8, 8), [0.5, 0.5, 0.5], [0.2, 0.2, 0.2])):
        expected = torchvision_pipeline(mean, std)(image).as_subclass(torch.Tensor)
        assert torch.equal(ScaleNormalize(mean, std)(image), expected)


def test_only_a_plain_same_size_transform_skips_torchvision():
    assert isinstance(build_image_transform(8, 8, [0.3], [0.37], train=True), ScaleNormalize)
    assert isinstance(build_image_transform(8, 8, [0.3], [0.37], train=False, horizontal_flip=True), ScaleNormalize)
    assert not isinstance(build_image_transform(32, 8, [0.3], [0.37], train=False), ScaleNormalize)
    assert not isinstance(build_image_transform(8, 8, [0.3], [0.37], train=True, random_crop_padding=1),
                          ScaleNormalize)
