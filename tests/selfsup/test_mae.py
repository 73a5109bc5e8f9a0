"""The masked autoencoder's pieces: masking, an encoder that sees only visible patches, the masked loss."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from dltrain import api
from dltrain.errors import UserError
from dltrain.models.selfsup.mae import MaskedAutoencoder, random_masking
from dltrain.tasks.masked_autoencoder import MaskedAutoencoderTask


def tiny_mae(**options) -> MaskedAutoencoder:
    shape = {"in_channels": 1, "image_size": 8, "patch_size": 2, "embed_dim": 16, "depth": 2, "num_heads": 2,
             "decoder_dim": 16, "decoder_depth": 1, "decoder_num_heads": 2}
    return MaskedAutoencoder(**{**shape, **options})


def test_shuffle_and_keep_hides_exactly_75_percent_of_every_sample():
    noise = torch.rand(32, 16, generator=torch.Generator().manual_seed(0))
    keep, mask, restore = random_masking(noise, 0.75)
    assert keep.shape == (32, 4)
    assert mask.sum(dim=1).tolist() == [12.0] * 32  # exactly 25% kept per sample
    for k, m in zip(keep, mask):  # the kept indices are exactly the unmasked positions
        assert sorted(k.tolist()) == (m == 0).nonzero().flatten().tolist()
    shuffle = noise.argsort(dim=1)
    assert torch.equal(shuffle.gather(1, restore), torch.arange(16).expand(32, -1))  # restore inverts the shuffle
    assert not torch.equal(mask[0], mask[1])  # a different mask per sample


def test_patchify_reads_patches_in_raster_order_and_unpatchify_inverts_it():
    model = tiny_mae()
    images = torch.arange(64.0).view(1, 1, 8, 8)
    patches = model.patchify(images)
    assert patches.shape == (1, 16, 4)
    assert patches[0, :2].tolist() == [[0, 1, 8, 9], [2, 3, 10, 11]]
    assert torch.equal(model.unpatchify(patches, 1), images)


def test_encoder_sees_only_the_visible_patches():
    model = tiny_mae().eval()
    seen = []
    model.encoder.blocks[0].register_forward_hook(lambda module, args, out: seen.append(args[0].shape[1]))
    model(torch.randn(3, 1, 8, 8))
    assert seen == [1 + 4]  # [CLS] + 25% of 16 patches


def test_changing_hidden_patches_leaves_the_encoder_output_unchanged():
    torch.manual_seed(0)
    model = tiny_mae().eval()
    images = torch.randn(4, 1, 8, 8)
    keep, mask, _ = random_masking(torch.rand(4, 16), 0.75)
    patches = model.patchify(images)
    hidden = mask.unsqueeze(-1)
    perturbed_hidden = model.unpatchify(patches + 5 * torch.randn_like(patches) * hidden, 1)
    perturbed_visible = model.unpatchify(patches + 5 * torch.randn_like(patches) * (1 - hidden), 1)
    with torch.no_grad():
        latent = model.encoder(images, keep)
        assert torch.allclose(model.encoder(perturbed_hidden, keep), latent)
        assert not torch.allclose(model.encoder(perturbed_visible, keep), latent)


def test_norm_pix_targets_have_zero_mean_and_unit_variance_per_patch():
    model = tiny_mae()
    targets = model.targets(torch.randn(2, 1, 8, 8))
    assert torch.allclose(targets.mean(dim=-1), torch.zeros(2, 16), atol=1e-5)
    assert torch.allclose(targets.var(dim=-1), torch.ones(2, 16), atol=1e-3)
    assert torch.equal(tiny_mae(norm_pix_loss=False).targets(torch.ones(1, 1, 8, 8)), torch.ones(1, 16, 4))


class FixedPrediction(nn.Module):
    """A stand-in MAE: predicts target + 1 on visible patches and target + 2 on hidden ones."""

    norm_pix_loss = False

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.mask = mask

    def targets(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(2).transpose(1, 2)  # (B, N, 1): one pixel per "patch"

    def forward(self, images: torch.Tensor, noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return {"prediction": self.targets(images) + 1 + self.mask.unsqueeze(-1), "mask": self.mask}


def test_the_loss_counts_only_the_hidden_patches():
    mask = torch.tensor([[1.0, 0, 0, 1], [0, 1, 1, 1]])
    task = MaskedAutoencoderTask(FixedPrediction(mask))
    loss = task.training_step((torch.randn(2, 1, 2, 2), torch.zeros(2)), 0)
    assert loss.item() == pytest.approx(4.0)  # (target + 2 - target)^2 on hidden patches; visible ones ignored


def test_validation_mse_is_exact_over_the_pass_and_the_masks_repeat_every_epoch():
    torch.manual_seed(0)
    task = MaskedAutoencoderTask(tiny_mae()).eval()
    batches = [(torch.randn(5, 1, 8, 8), torch.zeros(5)), (torch.randn(3, 1, 8, 8), torch.zeros(3))]
    with torch.no_grad():
        for epoch in range(2):
            for index, batch in enumerate(batches):
                task.validation_step(batch, index)
            metrics = task.compute_metrics("val")
            if epoch == 0:
                first = metrics["val/masked_mse"]
    assert metrics["val/masked_mse"] == pytest.approx(first)  # same masks, same model: same number
    hidden = 12 * 8
    with torch.no_grad():  # by hand: every batch's squared error over its hidden patches, over all hidden patches
        errors = []
        for index, (images, _) in enumerate(batches):
            noise = torch.rand(len(images), 16, generator=torch.Generator().manual_seed(index))
            out = task.model(images, noise)
            errors.append(((out["prediction"] - task.model.targets(images)).square().mean(-1) * out["mask"]).sum())
    assert first == pytest.approx((sum(errors) / hidden).item(), rel=1e-5)


def test_visuals_show_masked_reconstructed_and_original_rows():
    torch.manual_seed(0)
    task = MaskedAutoencoderTask(tiny_mae(), num_images_shown=3).eval()
    images = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        task.validation_step((images, torch.zeros(4)), 0)
    shown = task._shown
    grids = task.reconstruction_grids(**shown)
    hidden = task.model.unpatchify(shown["mask"].unsqueeze(-1).expand(-1, -1, 4), 1).bool()
    assert torch.all(grids["masked"][hidden] == 0.5)  # hidden patches are grey in the masked view
    assert torch.allclose(grids["reconstructed"][~hidden], grids["original"][~hidden])  # visible ones pasted

    logged = {}

    class Logger:
        def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
            logged[tag] = image

    task.compute_metrics("val")
    task.log_visuals(Logger(), 0, "val")
    image = logged["val/masked_reconstructed_original"]
    assert image.dtype == torch.uint8 and image.shape[0] == 3
    assert image.shape[1] == image.shape[2]  # three rows (masked, reconstructed, original) of three images


def test_mae_config_trains_one_step_on_digits_shaped_images():
    cfg = api.compose(["model=mae", "model.embed_dim=16", "model.depth=1", "model.decoder_dim=16"])
    assert cfg.task._target_.endswith("MaskedAutoencoderTask") and cfg.task.monitor_mode == "min"
    model = instantiate(cfg.model)
    task = MaskedAutoencoderTask(model)
    loss = task.training_step((torch.randn(4, 1, 8, 8), torch.zeros(4)), 0)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters())  # every weight, [MASK] token included, learns


@pytest.mark.parametrize("ratio", [0.0, 0.95, 1.0])
def test_a_mask_ratio_that_hides_nothing_or_everything_is_refused(ratio):
    with pytest.raises(UserError, match="mask_ratio"):
        tiny_mae(mask_ratio=ratio)
