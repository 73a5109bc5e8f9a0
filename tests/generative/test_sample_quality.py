"""The FID-style Fréchet distance and its feature classifier."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch.utils.data import TensorDataset

from dltrain.metrics.sample_quality import FeatureStatistics, SampleQuality, frechet_distance


def _random_covariance(dim: int, seed: int) -> torch.Tensor:
    a = torch.randn(dim, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T / dim + 0.1 * torch.eye(dim, dtype=torch.float64)


def test_frechet_distance_matches_the_scipy_sqrtm_formula():
    mu1, mu2 = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    cov1, cov2 = _random_covariance(6, 1), _random_covariance(6, 2)
    sqrt = scipy.linalg.sqrtm(cov1.numpy() @ cov2.numpy()).real
    expected = ((mu1 - mu2) ** 2).sum().item() + np.trace(cov1.numpy() + cov2.numpy() - 2 * sqrt)
    assert frechet_distance(mu1, cov1, mu2, cov2).item() == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_one_gaussian_variants_by_hand():
    cov = _random_covariance(4, 3)
    mu = torch.zeros(4, dtype=torch.float64)
    assert frechet_distance(mu, cov, mu, cov).item() == pytest.approx(0.0, abs=1e-9)
    shift = torch.tensor([3.0, 4.0, 0.0, 0.0], dtype=torch.float64)  # only the means differ: ||shift||^2
    assert frechet_distance(mu, cov, shift, cov).item() == pytest.approx(25.0, abs=1e-8)
    eye = torch.eye(4, dtype=torch.float64)  # I vs 4I: Tr(I + 4I - 2 * 2I) = 4
    assert frechet_distance(mu, eye, mu, 4 * eye).item() == pytest.approx(4.0, abs=1e-9)


def test_streamed_feature_statistics_equal_the_whole_set_at_once():
    features = torch.randn(50, 5)
    stats = FeatureStatistics()
    for chunk in features.split(7):
        stats.update(chunk)
    mean, covariance = stats.mean_and_covariance()
    torch.testing.assert_close(mean, features.double().mean(0))
    torch.testing.assert_close(covariance, torch.cov(features.double().T))


def test_sample_quality_separates_real_from_noise_and_scores_labelled_samples():
    torch.manual_seed(0)
    centres = torch.randn(3, 1, 4, 4) * 2  # three well-separated "classes" of 4x4 images
    labels = torch.arange(3).repeat(100)
    images = centres[labels] + 0.3 * torch.randn(300, 1, 4, 4)
    quality = SampleQuality(TensorDataset(images, labels), num_classes=3, steps=100)
    held_out = centres[labels] + 0.3 * torch.randn(300, 1, 4, 4)

    quality.update(real=images, fake=held_out, fake_labels=labels)
    close = quality.frechet_distance()
    assert quality.sample_accuracy() > 0.95
    quality.reset()
    quality.update(real=images, fake=torch.randn(300, 1, 4, 4), fake_labels=labels)
    assert quality.frechet_distance() > 10 * close
    assert quality.sample_accuracy() < 0.7
