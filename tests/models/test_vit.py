from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.errors import UserError
from dltrain.models.classification import vit

from .helpers import (
    assert_matches_torchvision,
    assert_parameter_count_close,
    assert_trains_on_small_input,
    num_parameters,
)

# Small and Base differ from Tiny only in width: the small-image runs build the two cheap presets.
SMALL_IMAGE_VARIANTS = ["vit", "vit_tiny"]

# Published sizes at 224 px / patch 16, 1000 classes: DeiT (Touvron et al. 2021, Table 1) gives
# ViT-Ti 5M and ViT-S 22M; timm's model cards (vit_tiny_patch16_224, vit_small_patch16_224) give
# 5.7M and 22.1M. ViT-B is compared with torchvision's vit_b_16.
PUBLISHED_PARAMETERS = {"vit_tiny": 5_700_000, "vit_small": 22_100_000}


@pytest.mark.parametrize(
    ("image_size", "patch_size"), [(224, 16), (128, 16), (64, 8), (32, 4), (28, 4), (8, 1)]
)
def test_patch_size_follows_image_size(image_size: int, patch_size: int) -> None:
    assert vit.default_patch_size(image_size) == patch_size


def test_patch_size_override_and_position_table_length() -> None:
    model = vit.vit(num_classes=10, in_channels=3, image_size=32, patch_size=8)
    assert model.pos_embed.weight.shape == (1, (32 // 8) ** 2 + 1, 192)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_patch_size_must_divide_image_size() -> None:
    with pytest.raises(UserError, match="patch_size=5"):
        vit.vit(num_classes=10, in_channels=3, image_size=32, patch_size=5)


@pytest.mark.parametrize("name", ["vit_tiny", "vit_small"])
def test_parameter_count_matches_published(name: str) -> None:
    model = getattr(vit, name)(num_classes=1000, in_channels=3, image_size=224)
    assert_parameter_count_close(model, PUBLISHED_PARAMETERS[name])


def test_vit_base_matches_torchvision_vit_b_16() -> None:
    ours = vit.vit_base(num_classes=1000, in_channels=3, image_size=224)
    theirs = torchvision.models.vit_b_16(weights=None)
    assert_parameter_count_close(ours, num_parameters(theirs))
    # torchvision's ViT only accepts its construction size; 224 px, one image (~17 GFLOPs).
    assert_matches_torchvision(ours, theirs, (1, 3, 224, 224))


def test_attention_matches_explicit_softmax() -> None:
    attention = vit.MultiHeadSelfAttention(embed_dim=12, num_heads=3).eval()
    x = torch.randn(2, 5, 12)
    q, k, v = attention.qkv(x).reshape(2, 5, 3, 3, 4).permute(2, 0, 3, 1, 4)
    weights = torch.softmax(q @ k.transpose(-2, -1) / 4**0.5, dim=-1)
    expected = attention.proj((weights @ v).transpose(1, 2).reshape(2, 5, 12))
    with torch.no_grad():
        torch.testing.assert_close(attention(x), expected.detach())


@pytest.mark.parametrize("name", SMALL_IMAGE_VARIANTS)
@pytest.mark.parametrize(("image_size", "in_channels"), [(8, 1), (28, 1), (32, 3)])
def test_forward_backward_small_images(name: str, image_size: int, in_channels: int) -> None:
    model = getattr(vit, name)(
        num_classes=10, in_channels=in_channels, image_size=image_size, drop_path_rate=0.1, dropout=0.1
    )
    assert_trains_on_small_input(model, image_size, in_channels, model.patch_embed.proj)


def test_freeze_backbone_leaves_only_the_head_trainable() -> None:
    model = vit.vit(num_classes=10, in_channels=1, image_size=28, freeze_backbone=True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}


def test_flops_at_start_up_count_attention_as_vit_b16s_analytic_figure():
    """The CPU attention kernel is counted (PyTorch's counter knows only the CUDA ones): 17.56 G MACs."""
    from dltrain.engine.model_facts import count_flops
    from dltrain.models.classification.vit import vit_base

    model = vit_base(num_classes=1000, in_channels=3, image_size=224)
    image = torch.randn(1, 3, 224, 224)
    tokens, width, depth = 197, 768, 12  # 196 patches + [CLS]
    per_block = (tokens * width * 3 * width      # q, k, v projections
                 + 2 * tokens * tokens * width   # QK^T and (softmax) V
                 + tokens * width * width        # output projection
                 + 2 * tokens * width * 4 * width)  # MLP
    analytic = 196 * 768 * (3 * 16 * 16) + depth * per_block + width * 1000  # patch embedding, blocks, head
    assert count_flops(lambda: model(image), model) == 2 * analytic  # a multiply-add is two FLOPs
