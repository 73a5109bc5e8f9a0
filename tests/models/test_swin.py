from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.models.classification import swin

from .helpers import (
    assert_matches_torchvision,
    assert_parameter_count_close,
    assert_trains_on_small_input,
    num_parameters,
)


def test_swin_t_matches_torchvision() -> None:
    ours = swin.swin_t(num_classes=1000, in_channels=3, image_size=224)
    theirs = torchvision.models.swin_t(weights=None)
    assert_parameter_count_close(ours, num_parameters(theirs))
    # Every tensor maps, relative_position_index included: it is a persistent buffer in both.
    # 224 px: every stage uses 7x7 windows, shifted except in the last (7x7) stage.
    assert_matches_torchvision(ours, theirs, (1, 3, 224, 224))


@pytest.mark.parametrize(
    ("image_size", "patch_size", "windows", "shifts"),
    [
        (224, 4, [7, 7, 7, 7], [3, 3, 3, 0]),
        (32, 2, [4, 4, 4, 2], [2, 2, 0, 0]),
        (28, 2, [7, 7, 4, 2], [3, 0, 0, 0]),
        (8, 1, [4, 4, 2], [2, 0, 0]),  # 8x8 -> 4x4 -> 2x2: the 1x1 stage is dropped
    ],
)
def test_patch_window_and_stages_follow_image_size(
    image_size: int, patch_size: int, windows: list[int], shifts: list[int]
) -> None:
    # the rule does not depend on the width: a narrow Swin-T keeps the test fast
    model = swin.swin_t(num_classes=10, in_channels=3, image_size=image_size, embed_dim=24)
    assert model.patch_embed.proj.kernel_size == (patch_size, patch_size)
    assert [stage.blocks[0].attn.window_size for stage in model.stages] == windows
    assert [stage.blocks[1].attn.shift_size for stage in model.stages] == shifts


def test_shifted_window_mask_separates_rolled_regions() -> None:
    mask = swin.shifted_window_mask(height=8, width=8, window=4, shift=2, device=torch.device("cpu"))
    assert mask.shape == (4, 16, 16)
    assert (mask[0] == 0).all()  # the top-left window holds one contiguous region
    # bottom-right window: four regions of 2x2 tokens, each token sees only its own 4
    assert ((mask[3] == 0).sum(dim=-1) == 4).all()


@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(image_size: int, in_channels: int) -> None:
    model = swin.swin_t(num_classes=10, in_channels=in_channels, image_size=image_size)
    assert_trains_on_small_input(model, image_size, in_channels, model.patch_embed.proj)
