"""A ViT classifier whose encoder starts from masked-autoencoder pre-training (He et al., 2021).

The encoder is MAE's (``mae.MAEEncoder``: a ViT without its head) reading
*all* patches; its output tokens are pooled into one feature vector — the
[CLS] token (``pool: cls``) or the mean of the patch tokens (``pool: mean``)
— and classified by a head. ``model.init_from`` names a checkpoint of
``dltrain model=mae``: the run builder loads its ``encoder.*`` weights
(``pretrained_part``), the decoder is dropped. The encoder options must match
the pre-training run's.

Two ways to use the pre-trained encoder, as the paper evaluates it:

* **linear probing** (``linear_probe: true``): the encoder is frozen (and kept
  in eval mode: no drop-path noise on fixed features); only the head trains,
  ``BatchNorm1d(affine=False)`` then ``Linear``. The parameter-free BatchNorm
  whitens the features, whose scales differ wildly between dimensions after
  pre-training; it is still a linear classifier (the paper, appendix A.3).
* **fine-tuning** (``linear_probe: false``): everything trains, with a plain
  linear head.
"""
from __future__ import annotations

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.models.selfsup.mae import MAEEncoder
from dltrain.models.transfer import PretrainedPart

POOLS = ("cls", "mean")


class MAEClassifier(nn.Module):
    # model.init_from: the encoder of a masked-autoencoder run (mae.MaskedAutoencoder keeps it as ``encoder``)
    pretrained_part = PretrainedPart("encoder", "MAE encoder", "`dltrain model=mae` (e.g. experiment=mae_digits)",
                                     "image_size / patch_size / embed_dim / depth / num_heads")

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        image_size: int = 224,
        patch_size: int | None = None,
        embed_dim: int = 192,
        depth: int = 6,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
        pool: str = "mean",
        linear_probe: bool = False,
    ) -> None:
        super().__init__()
        if pool not in POOLS:
            raise UserError(f"model.pool={pool} is not one of {', '.join(POOLS)}.")
        self.pool, self.linear_probe = pool, linear_probe
        self.encoder = MAEEncoder(in_channels, image_size, patch_size, embed_dim, depth, num_heads, mlp_ratio,
                                  drop_path_rate)
        linear = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(linear.weight, std=0.01)  # small: the head starts near chance, as in the paper
        nn.init.zeros_(linear.bias)
        self.head = nn.Sequential(nn.BatchNorm1d(embed_dim, affine=False), linear) if linear_probe else linear
        if linear_probe:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> "MAEClassifier":
        super().train(mode)
        if self.linear_probe:
            self.encoder.eval()  # frozen features stay deterministic; the head's BatchNorm still trains
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.encoder(images)
        return tokens[:, 0] if self.pool == "cls" else tokens[:, 1:].mean(dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))
