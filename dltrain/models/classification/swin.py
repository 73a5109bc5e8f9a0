"""Swin Transformer, Liu et al., "Hierarchical Vision Transformer using Shifted Windows", 2021.

ViT attends globally over one coarse grid of tokens, so its cost grows with
the square of the token count and it has no multi-scale feature maps. Swin
brings back the CNN hierarchy:

* patch partition + linear embedding: 4x4 patches -> C-dim tokens (one Conv2d);
* window multi-head self-attention (W-MSA): attention only inside
  non-overlapping M x M windows, so cost is linear in image area; a learned
  relative position bias B (one table entry per relative offset, per head) is
  added to the attention logits: softmax(QK^T / sqrt(d) + B) V;
* shifted windows (SW-MSA): every second block moves the window grid by M/2
  (a cyclic shift with ``torch.roll``) so neighbouring windows exchange
  information; tokens that the roll brought together from opposite image
  borders are kept apart by an attention mask;
* patch merging between stages: concatenate each 2x2 group of tokens
  (4C channels), LayerNorm, Linear to 2C: half the resolution, double the width.

Swin-T: C 96, depths (2, 2, 6, 2), heads (3, 6, 12, 24), window 7, drop-path 0.2.

Adapting to the image size (``patch_size`` / ``window_size`` null = automatic):

* patch size 4 (the paper) from 64 px, 2 below 64 px, 1 below 16 px (8 px digits);
* window: the largest size <= 7 that tiles the first feature map exactly
  (7 at 224 px, 4 at 32 px, 7 at 28 px, 4 at 8 px); if only sizes below 4
  would tile it, 7, and the map is zero-padded to a multiple of the window as
  torchvision does;
* per stage the window is clamped to the feature map, with no shift when one
  window covers the whole map (as the official code does);
* stages whose feature map would be smaller than 2x2 are dropped (8 px keeps
  three stages, 8x8 -> 4x4 -> 2x2).

The state_dict is laid out as torchvision's ``swin_t`` (including the
persistent ``relative_position_index`` buffer), so ``swin_t`` weights load by
position.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.models import transfer
from dltrain.models.classification.vit import FeedForward
from dltrain.models.layers import DropPath, is_small_image

# Added to the logits of token pairs that must not attend to each other (the official code's value).
MASKED = -100.0


def default_patch_size(image_size: int) -> int:
    if not is_small_image(image_size):
        return 4
    return 2 if image_size >= 16 else 1


def default_window_size(feature_size: int) -> int:
    """Largest window <= 7 that tiles the map exactly; 7 (with padding) if only tiny ones would."""
    window = max(w for w in range(1, min(7, feature_size) + 1) if feature_size % w == 0)
    return window if window >= 4 or window == feature_size else 7


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B, num_windows, window*window, C), windows in raster order."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, -1, window * window, c)


def window_merge(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`."""
    b, c = windows.shape[0], windows.shape[-1]
    x = windows.view(b, height // window, width // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, height, width, c)


def shifted_window_mask(
    height: int, width: int, window: int, shift: int, device: torch.device
) -> torch.Tensor:
    """(num_windows, N, N) mask: MASKED where two tokens of a shifted window came from different regions.

    After rolling the map by ``shift``, the last window row/column holds tokens
    from the top/left border too; label the 3x3 regions the roll creates and
    forbid attention between different labels.
    """
    regions = torch.zeros(height, width, device=device)
    bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for label, (rows, cols) in enumerate(itertools.product(bands, bands)):
        regions[rows, cols] = label
    labels = window_partition(regions[None, :, :, None], window)[0, :, :, 0]  # (num_windows, N)
    different = labels[:, None, :] != labels[:, :, None]
    return torch.zeros_like(different, dtype=regions.dtype).masked_fill(different, MASKED)


class WindowAttention(nn.Module):
    """(Shifted) window multi-head self-attention with a relative position bias."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift_size: int = 0,
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.window_size = window_size
        self.shift_size = shift_size
        self.attention_dropout = attention_dropout
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        # One learned bias per relative offset (dy, dx) in [-(M-1), M-1]^2, per head.
        table_size = (2 * window_size - 1) ** 2
        self.relative_position_bias_table = nn.Parameter(torch.zeros(table_size, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # For every (query, key) pair of a window: the row of its offset in the table.
        axis = torch.arange(window_size)
        coords = torch.stack(torch.meshgrid(axis, axis, indexing="ij")).flatten(1)  # (2, N): (row, col)
        offsets = coords[:, :, None] - coords[:, None, :] + (window_size - 1)  # (2, N, N), shifted to >= 0
        index = offsets[0] * (2 * window_size - 1) + offsets[1]
        self.register_buffer("relative_position_index", index.flatten())  # persistent, as torchvision

    def relative_position_bias(self) -> torch.Tensor:
        n = self.window_size**2
        bias = self.relative_position_bias_table[self.relative_position_index].view(n, n, self.num_heads)
        return bias.permute(2, 0, 1)  # (heads, N, N)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        window = self.window_size
        # pad the map to whole windows (padded tokens are zeros, as in torchvision)
        x = F.pad(x, (0, 0, 0, (-w) % window, 0, (-h) % window))
        height, width = x.shape[1:3]
        shift = self.shift_size if min(height, width) > window else 0
        if shift:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))

        windows = window_partition(x, window)  # (B, nW, N, C)
        n = windows.shape[2]
        qkv = self.qkv(windows).reshape(b, -1, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5)  # each (B, nW, heads, N, d)
        bias = self.relative_position_bias()
        if shift:
            bias = bias + shifted_window_mask(height, width, window, shift, x.device)[:, None]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.attention_dropout if self.training else 0.0
        )
        out = out.transpose(2, 3).reshape(b, -1, n, c)  # merge heads
        out = F.dropout(self.proj(out), self.dropout, self.training)

        x = window_merge(out, window, height, width)
        if shift:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        return x[:, :h, :w].contiguous()


class SwinBlock(nn.Module):
    """x + W-MSA(LN(x)) (or SW-MSA), then x + MLP(LN(x)); tokens stay in (B, H, W, C) layout."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift_size: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window_size, shift_size, attention_dropout, dropout)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, int(dim * mlp_ratio), dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """Concatenate each 2x2 group of tokens (4C), LayerNorm, Linear to 2C: the Swin "pooling"."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        # registered before ``norm`` although applied after it: torchvision's state_dict order
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[1:3]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))  # odd maps: pad to even
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class PatchEmbedding(nn.Module):
    """Patch partition + linear embedding (one Conv2d, kernel = stride = patch), then LayerNorm."""

    def __init__(self, in_channels: int, embed_dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))  # (B, H, W, C): channels last for LayerNorm


class SwinStage(nn.Sequential):
    """Patch merging (all stages but the first), then ``depth`` blocks alternating W-MSA and SW-MSA."""

    def __init__(self, downsample: PatchMerging | None, blocks: Sequence[SwinBlock]) -> None:
        super().__init__()
        if downsample is not None:
            self.downsample = downsample
        self.blocks = nn.Sequential(*blocks)


class SwinTransformer(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        patch_size: int | None = None,
        window_size: int | None = None,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path_rate: float = 0.2,
    ) -> None:
        super().__init__()
        patch_size = patch_size or default_patch_size(image_size)
        size = image_size // patch_size
        window_size = window_size or default_window_size(size)
        # feature-map size of every stage; drop stages that would go below 2x2
        sizes = [size]
        while len(sizes) < len(depths) and math.ceil(sizes[-1] / 2) >= 2:
            sizes.append(math.ceil(sizes[-1] / 2))
        depths = list(depths)[: len(sizes)]

        self.patch_embed = PatchEmbedding(in_channels, embed_dim, patch_size)
        # stochastic depth rises linearly from 0 to drop_path_rate over all blocks
        rates = iter(torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist())  # also under meta
        stages = []
        for i, (depth, heads, size) in enumerate(zip(depths, num_heads, sizes)):
            dim = embed_dim * 2**i
            window = min(window_size, size)
            shift = window // 2 if size > window else 0  # one window covers the map: nothing to shift
            blocks = [  # W-MSA and SW-MSA alternate
                SwinBlock(
                    dim, heads, window, 0 if j % 2 == 0 else shift,
                    mlp_ratio, dropout, attention_dropout, drop_path=next(rates),
                )
                for j in range(depth)
            ]
            stages.append(SwinStage(PatchMerging(dim // 2) if i > 0 else None, blocks))
        self.stages = nn.Sequential(*stages)
        num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(num_features)
        self.head = nn.Linear(num_features, num_classes)

        for m in self.modules():  # truncated normal for every linear layer, as the official code
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.stages(self.patch_embed(x)))
        return self.head(x.mean(dim=(1, 2)))  # global average pooling over the last map


def swin_t(pretrained: bool = False, freeze_backbone: bool = False, **kwargs) -> SwinTransformer:
    """Swin-T: C 96, depths (2, 2, 6, 2), heads (3, 6, 12, 24), 28.3M parameters at 224 px."""
    return transfer.prepare(SwinTransformer(**kwargs), "swin_t", pretrained, freeze_backbone)
