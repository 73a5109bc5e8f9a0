"""Vision Transformer (ViT), Dosovitskiy et al., "An Image is Worth 16x16 Words", 2020.

The idea: treat an image as a sentence. Cut it into non-overlapping P x P
patches, project each patch linearly to a D-dimensional token (one Conv2d
with kernel = stride = P does exactly that), prepend a learnable [CLS] token,
add a learned position embedding (attention itself is order-blind), and run a
standard pre-norm Transformer encoder:

    x = x + MSA(LN(x))        # every token looks at every other token
    x = x + MLP(LN(x))        # per-token feed-forward, GELU

The final LayerNorm'd [CLS] token is classified by a linear head (the paper's
MLP head has a tanh hidden layer only while pre-training; fine-tuning and
torchvision use one linear layer, as here).

Patch size. With ``patch_size=None`` it follows the image size: 16 (ViT-*/16)
for images of 128 px or more that 16 divides; otherwise the largest divisor of
``image_size`` that is at most ``max(1, image_size // 7)``, so a small image
still becomes a 7x7-or-finer grid of tokens (32 px -> 4, 28 px -> 4,
64 px -> 8, 8 px -> 1). The position table has one row per patch plus [CLS].

Presets (MLP ratio 4): ``vit_tiny`` (D 192, 12 layers, 3 heads), ``vit_small``
(384, 12, 6), ``vit_base`` (768, 12, 12; torchvision's ``vit_b_16`` at patch 16).
``vit`` is the default for small data sets: ViT-Tiny's width and heads with
half the depth (6 layers): 2.7M parameters at 32 px, trainable on a CPU.

The state_dict is laid out as torchvision's ``VisionTransformer`` (class token,
patch projection, position table, blocks with one fused qkv matrix shaped like
``nn.MultiheadAttention.in_proj_weight``, final norm, head), so ``vit_base``
loads ``vit_b_16`` weights by position.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.errors import UserError
from dltrain.models import transfer
from dltrain.models.layers import DropPath


def default_patch_size(image_size: int) -> int:
    """16 for ImageNet-sized inputs; a patch giving at least a 7x7 token grid for small ones."""
    if image_size >= 128 and image_size % 16 == 0:
        return 16
    limit = max(1, image_size // 7)
    return max(p for p in range(1, limit + 1) if image_size % p == 0)


class PatchEmbedding(nn.Module):
    """Split the image into P x P patches and project each to a D-dim token (Conv2d, kernel = stride = P)."""

    def __init__(self, in_channels: int, embed_dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, H, W) -> (B, D, H/P, W/P) -> (B, N, D), patches in raster order
        return self.proj(x).flatten(2).transpose(1, 2)


class PositionEmbedding(nn.Module):
    """A learned vector per token position, added to the tokens (attention alone ignores order)."""

    def __init__(self, num_tokens: int, embed_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


class MultiHeadSelfAttention(nn.Module):
    """Scaled dot-product attention in ``num_heads`` subspaces of size D / num_heads.

    One ``qkv`` Linear computes queries, keys and values together (its weight is
    [W_q; W_k; W_v], the layout of ``nn.MultiheadAttention.in_proj_weight``).
    """

    def __init__(self, embed_dim: int, num_heads: int, attention_dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise UserError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}.")
        self.num_heads = num_heads
        self.attention_dropout = attention_dropout
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        # (B, N, 3D) -> (3, B, heads, N, D/heads): one query/key/value set per head
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        # softmax(q k^T / sqrt(d)) v, fused by PyTorch (flash / memory-efficient kernels where available)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attention_dropout if self.training else 0.0
        )
        # merge the heads back: (B, heads, N, D/heads) -> (B, N, D)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class FeedForward(nn.Sequential):
    """The Transformer MLP: Linear -> GELU -> Dropout -> Linear -> Dropout (hidden = ratio x D)."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop2 = nn.Dropout(dropout)


class EncoderBlock(nn.Module):
    """Pre-norm Transformer encoder layer: x + MSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        # eps=1e-6 as in the reference (JAX) code and torchvision
        self.norm1 = nn.LayerNorm(embed_dim, eps=1e-6)
        self.attn = MultiHeadSelfAttention(embed_dim, num_heads, attention_dropout)
        self.dropout = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(embed_dim, eps=1e-6)
        self.mlp = FeedForward(embed_dim, int(embed_dim * mlp_ratio), dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.dropout(self.attn(self.norm1(x))))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        patch_size: int | None = None,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        patch_size = patch_size or default_patch_size(image_size)
        if image_size % patch_size:
            raise UserError(
                f"model.patch_size={patch_size} does not divide data.image_size={image_size}; "
                f"pick a divisor of {image_size} or leave model.patch_size=null."
            )
        self.patch_size = patch_size
        num_patches = (image_size // patch_size) ** 2

        # Registration order = torchvision's state_dict order (class token, patch projection,
        # position table, blocks, norm, head), so its weights load by position.
        self.class_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.patch_embed = PatchEmbedding(in_channels, embed_dim, patch_size)
        self.pos_embed = PositionEmbedding(num_patches + 1, embed_dim)
        self.pos_drop = nn.Dropout(dropout)
        # stochastic depth grows linearly with depth: deep blocks are dropped more often
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()  # also under a meta device
        self.blocks = nn.Sequential(
            *(EncoderBlock(embed_dim, num_heads, mlp_ratio, dropout, attention_dropout, r) for r in rates)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # Truncated normal (std 0.02) for tokens, positions and linear layers, as the reference code;
        # LeCun normal for the patch projection (it is a linear map of the flattened patch).
        nn.init.trunc_normal_(self.class_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed.weight, std=0.02)
        conv = self.patch_embed.proj
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
        nn.init.trunc_normal_(conv.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(conv.bias)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(x)
        cls = self.class_token.expand(tokens.shape[0], -1, -1)
        x = self.pos_drop(self.pos_embed(torch.cat([cls, tokens], dim=1)))
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])  # the [CLS] token summarises the image


def vit(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VisionTransformer:
    """Small-data default: ViT-Tiny width (192, 3 heads) at half depth (6 layers)."""
    kwargs = {"embed_dim": 192, "depth": 6, "num_heads": 3, **kwargs}
    return transfer.prepare(VisionTransformer(**kwargs), None, pretrained, freeze_backbone)


def vit_tiny(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VisionTransformer:
    """ViT-Ti (DeiT-Tiny shape): D 192, 12 layers, 3 heads, 5.7M parameters at 224 px / patch 16."""
    model = VisionTransformer(embed_dim=192, depth=12, num_heads=3, **kwargs)
    return transfer.prepare(model, None, pretrained, freeze_backbone)


def vit_small(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VisionTransformer:
    """ViT-S (DeiT-Small shape): D 384, 12 layers, 6 heads, 22M parameters at 224 px / patch 16."""
    model = VisionTransformer(embed_dim=384, depth=12, num_heads=6, **kwargs)
    return transfer.prepare(model, None, pretrained, freeze_backbone)


def vit_base(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> VisionTransformer:
    """ViT-B: D 768, 12 layers, 12 heads, 86.6M parameters at 224 px / patch 16 (torchvision vit_b_16)."""
    model = VisionTransformer(embed_dim=768, depth=12, num_heads=12, **kwargs)
    return transfer.prepare(model, "vit_b_16", pretrained, freeze_backbone)
