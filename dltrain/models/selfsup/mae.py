"""Masked autoencoder (MAE), He et al., "Masked Autoencoders Are Scalable Vision Learners", 2021.

The idea: hide most of an image and learn by filling it in. Cut the image
into P x P patches (as ViT does), hide a random 75% of them, and let

* the **encoder**, a plain ViT, read only the visible 25% (the hidden patches
  are *dropped*, not replaced by a placeholder, so the encoder is 4x cheaper
  and never sees a token that does not exist at test time);
* a light **decoder** put a shared, learned ``[MASK]`` token in every hidden
  place, add its own position table (so each mask token knows where it is),
  run a few Transformer blocks and predict each patch's P*P*C pixels.

Only the hidden patches count in the loss (the task computes it):

    L = sum_i m_i * ||x_hat_i - t_i||^2 / (P*P*C) / sum_i m_i,   m_i = 1 if patch i was hidden

where the target t_i is patch i's pixels, normalised by the patch's own mean
and variance when ``norm_pix_loss`` (the paper's better-representations
variant: the decoder predicts local structure, not brightness).

Masking is *shuffle-and-keep*: draw uniform noise per patch, ``argsort`` it
(a random permutation per sample), keep the first ``N * (1 - mask_ratio)``
indices; the inverse permutation (``argsort`` of the permutation) puts the
decoder's tokens back in raster order. Every sample keeps exactly the same
number of patches, so a batch stays one rectangular tensor.

The encoder is ``dltrain.models.classification.vit``'s ViT without its head:
same patch embedding, position table, blocks and state_dict names, so a
``mae_classifier`` loads it whole after pre-training.
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.models.classification.vit import EncoderBlock, PositionEmbedding, VisionTransformer


def num_visible(num_patches: int, mask_ratio: float) -> int:
    """Patches the encoder sees: N * (1 - mask_ratio), rounded down as in the reference code."""
    return int(num_patches * (1 - mask_ratio))


def random_masking(noise: torch.Tensor, mask_ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shuffle-and-keep from per-patch noise (B, N).

    Returns ``keep`` (B, K): indices of the visible patches; ``mask`` (B, N):
    1 for a hidden patch, 0 for a visible one, in raster order; ``restore``
    (B, N): the inverse permutation, undoing the shuffle.
    """
    batch, num_patches = noise.shape
    keep_count = num_visible(num_patches, mask_ratio)
    shuffle = noise.argsort(dim=1)    # a random permutation per sample: the smallest noise is kept
    restore = shuffle.argsort(dim=1)  # the inverse permutation: position of each patch in the shuffle
    keep = shuffle[:, :keep_count]
    mask = torch.ones(batch, num_patches, device=noise.device)
    mask[:, :keep_count] = 0          # in shuffled order the first K are visible ...
    return keep, mask.gather(1, restore), restore  # ... un-shuffled to raster order


def take_tokens(tokens: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """tokens (B, N, D) at per-sample positions ``index`` (B, K) -> (B, K, D)."""
    return tokens.gather(1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


class MAEEncoder(VisionTransformer):
    """A ViT without its classifier head that can run on a subset of the patches.

    Positions are added *before* patches are dropped, so every visible token
    still carries where it came from. Returns all tokens, LayerNorm'd: [CLS]
    first, then the visible (or, without ``keep``, all) patches.
    """

    def __init__(self, in_channels: int = 3, image_size: int = 224, patch_size: int | None = None,
                 embed_dim: int = 192, depth: int = 6, num_heads: int = 3, mlp_ratio: float = 4.0,
                 drop_path_rate: float = 0.0) -> None:
        super().__init__(num_classes=1, in_channels=in_channels, image_size=image_size, patch_size=patch_size,
                         embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                         drop_path_rate=drop_path_rate)
        self.head = nn.Identity()  # features only: pre-training has a decoder, a classifier its own head
        self.num_patches = (image_size // self.patch_size) ** 2

    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        positions = self.pos_embed.weight  # (1, 1 + N, D): row 0 belongs to [CLS]
        patches = self.patch_embed(images) + positions[:, 1:]
        if keep is not None:
            patches = take_tokens(patches, keep)  # the hidden patches are dropped, not blanked
        cls = (self.class_token + positions[:, :1]).expand(patches.shape[0], -1, -1)
        x = self.pos_drop(torch.cat([cls, patches], dim=1))
        return self.norm(self.blocks(x))


class MAEDecoder(nn.Module):
    """Visible tokens + shared [MASK] tokens, back in raster order -> pixels of every patch."""

    def __init__(self, num_patches: int, encoder_dim: int, patch_dim: int, decoder_dim: int = 128,
                 depth: int = 2, num_heads: int = 4, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.embed = nn.Linear(encoder_dim, decoder_dim)  # the decoder is narrower than the encoder
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.pos_embed = PositionEmbedding(num_patches + 1, decoder_dim)  # its own: mask tokens need positions
        self.blocks = nn.Sequential(*(EncoderBlock(decoder_dim, num_heads, mlp_ratio) for _ in range(depth)))
        self.norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.predict = nn.Linear(decoder_dim, patch_dim)  # P*P*C pixel values per patch
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed.weight, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, latent: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        x = self.embed(latent)  # (B, 1 + K, D_dec)
        cls, visible = x[:, :1], x[:, 1:]
        hidden_count = restore.shape[1] - visible.shape[1]
        mask_tokens = self.mask_token.expand(x.shape[0], hidden_count, -1)
        # shuffled order is [visible..., hidden...]; the inverse permutation restores raster order
        patches = take_tokens(torch.cat([visible, mask_tokens], dim=1), restore)
        x = self.pos_embed(torch.cat([cls, patches], dim=1))
        x = self.norm(self.blocks(x))
        return self.predict(x[:, 1:])  # (B, N, P*P*C); [CLS] predicts nothing


class MaskedAutoencoder(nn.Module):
    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 224,
        patch_size: int | None = None,
        embed_dim: int = 192,
        depth: int = 6,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        decoder_dim: int = 128,
        decoder_depth: int = 2,
        decoder_num_heads: int = 4,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = True,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.encoder = MAEEncoder(in_channels, image_size, patch_size, embed_dim, depth, num_heads, mlp_ratio,
                                  drop_path_rate)
        self.patch_size = self.encoder.patch_size
        num_patches = self.encoder.num_patches
        if not 0 < num_visible(num_patches, mask_ratio) < num_patches:
            raise UserError(f"model.mask_ratio={mask_ratio} leaves no visible or no hidden patch of "
                            f"{num_patches}; pick a ratio between 1/{num_patches} and 1 - 1/{num_patches} (0.75).")
        self.mask_ratio, self.norm_pix_loss = mask_ratio, norm_pix_loss
        self.decoder = MAEDecoder(num_patches, embed_dim, self.patch_size ** 2 * in_channels, decoder_dim,
                                  decoder_depth, decoder_num_heads, mlp_ratio)

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, N, P*P*C), patches in raster order (as the patch embedding reads them)."""
        batch, channels, height, width = images.shape
        p = self.patch_size
        x = images.reshape(batch, channels, height // p, p, width // p, p)
        return x.permute(0, 2, 4, 3, 5, 1).reshape(batch, (height // p) * (width // p), p * p * channels)

    def unpatchify(self, patches: torch.Tensor, channels: int) -> torch.Tensor:
        """(B, N, P*P*C) -> (B, C, H, W), the inverse of ``patchify`` for square images."""
        batch, num_patches, _ = patches.shape
        p, side = self.patch_size, int(num_patches ** 0.5)
        x = patches.reshape(batch, side, side, p, p, channels).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(batch, channels, side * p, side * p)

    def patch_statistics(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each patch's pixel mean and standard deviation (B, N, 1), as ``norm_pix_loss`` uses them."""
        patches = self.patchify(images)
        # the reference code's unbiased variance and eps = 1e-6: a flat patch becomes all zeros
        return patches.mean(dim=-1, keepdim=True), (patches.var(dim=-1, keepdim=True) + 1e-6).sqrt()

    def targets(self, images: torch.Tensor) -> torch.Tensor:
        """What the decoder predicts per patch: its pixels, normalised per patch if ``norm_pix_loss``."""
        patches = self.patchify(images)
        if not self.norm_pix_loss:
            return patches
        mean, std = self.patch_statistics(images)
        return (patches - mean) / std

    def forward(self, images: torch.Tensor, noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Predicted patches (B, N, P*P*C) and the mask (B, N, 1 = hidden); ``noise`` (B, N) fixes the mask."""
        if noise is None:
            noise = torch.rand(images.shape[0], self.encoder.num_patches, device=images.device)
        keep, mask, restore = random_masking(noise, self.mask_ratio)
        latent = self.encoder(images, keep)
        return {"prediction": self.decoder(latent, restore), "mask": mask}
