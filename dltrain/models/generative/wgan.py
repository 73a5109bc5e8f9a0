"""WGAN-GP: Wasserstein GAN with gradient penalty (Gulrajani et al., 2017).

A WGAN (Arjovsky et al., 2017) replaces the discriminator by a critic f that
outputs an unbounded score, and estimates the Wasserstein-1 distance between
the data and the generator's distribution by the Kantorovich-Rubinstein duality

    W(P_r, P_g) = max over 1-Lipschitz f of  E_x[f(x)] - E_z[f(G(z))].

The critic maximises that difference; the generator minimises -E_z[f(G(z))].
Instead of clipping weights to keep f Lipschitz, WGAN-GP penalises the critic's
gradient norm on random interpolates x^ = e x + (1 - e) G(z), e ~ U[0, 1]:

    L_critic = E[f(G(z))] - E[f(x)] + lambda * E[(||grad f(x^)||_2 - 1)^2],  lambda = 10

(the losses live in ``dltrain.tasks.gan.WGANGPTask``). The penalty is per
sample, so the critic has no batch normalisation: it is the DCGAN
discriminator without BN. The generator is DCGAN's. The paper trains with
n_critic = 5 critic steps per generator step and Adam(lr=1e-4, betas=(0, 0.9)).
"""
from __future__ import annotations

from dltrain.models.generative.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init
from dltrain.models.generative.gan import AdversarialPair


class WGANGP(AdversarialPair):
    def __init__(self, in_channels: int = 1, image_size: int = 16, latent_dim: int = 100,
                 generator_features: int = 32, critic_features: int = 32) -> None:
        super().__init__(
            DCGANGenerator(latent_dim, in_channels, image_size, generator_features),
            DCGANDiscriminator(in_channels, image_size, critic_features, batch_norm=False),
            latent_dim,
        )
        dcgan_init(self)
