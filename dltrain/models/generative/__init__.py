"""Generative models: GAN, DCGAN, WGAN-GP (``AdversarialPair``: a generator and a
discriminator / critic) and the autoencoder / VAE. Trained by ``dltrain.tasks.gan``
and ``dltrain.tasks.autoencoder``."""
