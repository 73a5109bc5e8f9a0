"""Sample quality of a generative model without downloading an Inception network.

FID (Heusel et al., 2017) compares Inception-v3 features of real and generated
images: fit a Gaussian to each set of features and take the Fréchet distance

    d^2 = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)).

Inception weights cannot be downloaded here, so the feature extractor is a
small classifier (an MLP) trained for a few seconds on the run's own training
split (once per run, kept in memory, not in checkpoints). Its penultimate
features play the role of Inception's pool3 features: the number is
"FID-style" — comparable
between runs on the same data, not with published FIDs. The same classifier
scores class-conditional samples: the accuracy of its predictions against the
labels the samples were generated for.

Statistics are streamed (count, sum, sum of outer products in float64 on the
device), so the distance is exact over a whole validation pass.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

log = logging.getLogger(__name__)


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> torch.Tensor:
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2).

    Tr((S1 S2)^(1/2)) = Tr((S1^(1/2) S2 S1^(1/2))^(1/2)): the second matrix is
    symmetric PSD and has the same eigenvalues, so eigh suffices (no scipy).
    """
    values, vectors = torch.linalg.eigh(cov1)
    sqrt_cov1 = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    middle = sqrt_cov1 @ cov2 @ sqrt_cov1
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    return (mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * trace_sqrt


class FeatureStatistics:
    """Running mean and covariance of feature vectors."""

    def __init__(self) -> None:
        self.count = 0
        self.sum: torch.Tensor | None = None
        self.outer: torch.Tensor | None = None

    def update(self, features: torch.Tensor) -> None:
        features = features.detach().double()
        if self.sum is None:
            self.sum = torch.zeros(features.shape[1], dtype=torch.float64, device=features.device)
            self.outer = torch.zeros(features.shape[1], features.shape[1], dtype=torch.float64, device=features.device)
        self.sum += features.sum(dim=0)
        self.outer += features.T @ features
        self.count += len(features)

    def mean_and_covariance(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.count < 2:
            raise ValueError("the Fréchet distance needs at least two real and two generated images")
        mean = self.sum / self.count
        covariance = (self.outer - self.count * torch.outer(mean, mean)) / (self.count - 1)
        return mean, covariance


class FeatureClassifier(nn.Module):
    """A multilayer perceptron: pixels -> 256 -> 64 (ReLU) -> class logits.

    Small on purpose: it trains in seconds on a CPU (a CNN of similar accuracy
    on digits takes ten times longer). ``features`` is the 64-d vector the
    head reads: the penultimate layer."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 256, width: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, width), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train_feature_classifier(dataset: Dataset, num_classes: int, steps: int = 300, batch_size: int = 128, max_images: int = 10_000, seed: int = 0) -> FeatureClassifier:
    """A FeatureClassifier fitted to (at most ``max_images`` of) a labelled image dataset, on the CPU.

    A fixed number of steps bounds the cost whatever the dataset's size; the
    global random state is left untouched, so training the metric does not
    change the run it measures. One thread: for matrices this small the thread
    pool's overhead costs more than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        classifier, accuracy, count = _fit(dataset, num_classes, steps, batch_size, max_images, seed)
    finally:
        torch.set_num_threads(threads)
    log.info("sample-quality classifier: %.3f training accuracy on %d images", accuracy, count)
    return classifier.requires_grad_(False)


def _fit(dataset: Dataset, num_classes: int, steps: int, batch_size: int, max_images: int,
         seed: int) -> tuple[FeatureClassifier, float, int]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        chosen = torch.randperm(len(dataset))[:max_images].tolist()
        pairs = [dataset[i] for i in chosen]
        images = torch.stack([torch.as_tensor(image, dtype=torch.float32) for image, _ in pairs])
        labels = torch.as_tensor([int(label) for _, label in pairs])
        classifier = FeatureClassifier(images[0].numel(), num_classes)
        optimizer = torch.optim.Adam(classifier.parameters(), lr=3e-3)
        for _ in range(steps):
            index = torch.randint(len(images), (min(batch_size, len(images)),))
            loss = F.cross_entropy(classifier(images[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        classifier.eval()
        with torch.no_grad():
            accuracy = (classifier(images).argmax(1) == labels).double().mean().item()
    return classifier, accuracy, len(images)


class SampleQuality:
    """FID-style Fréchet distance (real vs generated) and sample accuracy, from one classifier.

    Images must be in the same normalisation as ``dataset``'s."""

    def __init__(self, dataset: Dataset, num_classes: int, **training: int) -> None:
        self.classifier = train_feature_classifier(dataset, num_classes, **training)
        self.reset()

    def reset(self) -> None:
        self.real, self.fake = FeatureStatistics(), FeatureStatistics()
        self.correct = self.count = 0

    def _on(self, images: torch.Tensor) -> FeatureClassifier:
        if next(self.classifier.parameters()).device != images.device:
            self.classifier.to(images.device)
        return self.classifier

    @torch.no_grad()
    def update(self, real: torch.Tensor | None = None, fake: torch.Tensor | None = None,
               fake_labels: torch.Tensor | None = None) -> None:
        """Add real images, generated images and (class-conditional models) the labels they were generated for."""
        if real is not None:
            self.real.update(self._on(real).features(real.float()))
        if fake is not None:
            features = self._on(fake).features(fake.float())
            self.fake.update(features)
            if fake_labels is not None:
                predicted = self.classifier.head(features).argmax(dim=1)
                self.correct = self.correct + (predicted == fake_labels).sum()
                self.count += len(fake_labels)

    def frechet_distance(self) -> float:
        return frechet_distance(*self.real.mean_and_covariance(), *self.fake.mean_and_covariance()).item()

    def sample_accuracy(self) -> float:
        """Share of generated images the classifier assigns to the label they were generated for."""
        return float(self.correct) / max(self.count, 1)
