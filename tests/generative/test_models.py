"""Every generative model config builds and runs forward / backward at the digits' sizes."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from dltrain import api
from dltrain.errors import UserError
from dltrain.models.generative.dcgan import resolutions

ADVERSARIAL = ["gan", "dcgan", "wgan_gp"]


@pytest.mark.parametrize("image_size, expected", [(8, (4, 1)), (16, (4, 2)), (28, (7, 2)), (32, (4, 3)), (64, (4, 4))])
def test_dcgan_resolutions_double_from_a_small_start_to_the_image_size(image_size, expected):
    start, doublings = resolutions(image_size)
    assert (start, doublings) == expected and start * 2**doublings == image_size


@pytest.mark.parametrize("image_size", [7, 6])
def test_dcgan_rejects_sizes_it_cannot_reach_by_doubling(image_size):
    with pytest.raises(UserError, match="data.image_size"):
        resolutions(image_size)


@pytest.mark.parametrize("name", ADVERSARIAL)
@pytest.mark.parametrize("image_size, in_channels", [(8, 1), (16, 1), (32, 3)])
def test_adversarial_pair_makes_images_in_tanh_range_and_scores_them(name, image_size, in_channels):
    cfg = api.compose([f"model={name}", f"data.image_size={image_size}", f"data.in_channels={in_channels}"])
    model = instantiate(cfg.model)
    fake = model.generator(model.noise(2))
    assert fake.shape == (2, in_channels, image_size, image_size)
    assert fake.abs().max() <= 1
    score = model.discriminator(fake)
    assert score.shape == (2, 1)
    score.sum().backward()
    first = next(model.generator.parameters())
    assert first.grad is not None and torch.isfinite(first.grad).all() and first.grad.abs().sum() > 0


def test_wgan_gp_critic_has_no_batch_norm_and_dcgan_discriminator_has():
    dcgan = instantiate(api.compose(["model=dcgan", "data.image_size=16"]).model)
    wgan = instantiate(api.compose(["model=wgan_gp", "data.image_size=16"]).model)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in dcgan.discriminator.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in wgan.discriminator.modules())


@pytest.mark.parametrize("name", ["autoencoder", "vae"])
def test_autoencoders_reconstruct_the_input_shape(name):
    model = instantiate(api.compose([f"model={name}"]).model)
    x = torch.rand(2, 1, 8, 8)
    output = model(x)
    assert output["logits"].shape == x.shape and output["z"].shape == (2, model.latent_dim)
    output["logits"].sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_vae_samples_in_training_and_encodes_to_the_mean_in_eval():
    model = instantiate(api.compose(["model=vae"]).model)
    x = torch.rand(4, 1, 8, 8)
    model.train()
    out = model(x)
    assert not torch.equal(out["z"], out["mu"])  # z = mu + sigma * eps
    model.eval()
    out = model(x)
    assert torch.equal(out["z"], out["mu"])
    samples = model.sample(torch.randn(3, model.latent_dim))
    assert samples.shape == (3, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
