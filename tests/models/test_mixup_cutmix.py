"""MixUp and CutMix (dltrain/data/augment/mixing.py) and their soft-target losses in the classification task."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dltrain.data.augment.mixing import BatchMixer, cutmix, mixup, random_box
from dltrain.errors import UserError
from dltrain.tasks.classification import ClassificationTask

NUM_CLASSES = 10


def batch(n: int = 8, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Images filled with their own index (so each pixel says where it came from), distinct labels."""
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, size, size).clone()
    return images, torch.arange(n) % NUM_CLASSES


def own_weight(target: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return target[torch.arange(len(labels)), labels]


def test_mixup_is_the_convex_combination_with_the_reversed_batch():
    torch.manual_seed(0)
    images = torch.randn(6, 3, 8, 8)
    mixed, lam = mixup(images, 0.3)
    assert lam == 0.3
    torch.testing.assert_close(mixed, 0.3 * images + 0.7 * images.flip(0))


def test_mixer_mixup_images_and_targets_use_the_same_lambda():
    torch.manual_seed(1)
    images, labels = torch.randn(8, 3, 8, 8), torch.arange(8)
    mixed, target = BatchMixer(NUM_CLASSES, mixup_alpha=0.4)(images, labels)
    lam = own_weight(target, labels)
    assert torch.allclose(lam, lam[0]) and 0 < lam[0] < 1  # one lambda for the whole batch
    torch.testing.assert_close(mixed, lam[0] * images + (1 - lam[0]) * images.flip(0))
    torch.testing.assert_close(target[torch.arange(8), labels.flip(0)], 1 - lam)


@pytest.mark.parametrize("seed", range(5))
def test_cutmix_pastes_one_box_whose_area_is_the_partners_target_weight(seed):
    torch.manual_seed(seed)
    images, labels = batch()
    mixed, target = BatchMixer(NUM_CLASSES, cutmix_alpha=1.0)(images, labels)
    for i in range(len(images)):
        partner = len(images) - 1 - i
        pasted = mixed[i, 0] == partner
        assert torch.all((mixed[i, 0] == i) | pasted)  # every pixel is the image's own or its partner's
        if partner == i:
            continue
        rows, cols = pasted.any(1).nonzero(), pasted.any(0).nonzero()
        if len(rows):  # the pasted pixels fill exactly one rectangle
            box = pasted[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
            assert box.all() and box.sum() == pasted.sum()
        area = pasted.float().mean()
        assert target[i, labels[i]] == pytest.approx(1 - area)
        assert target[i, labels[partner]] == pytest.approx(area)
    assert torch.equal(images, batch()[0])  # the input batch is left as it was (it may be a cached dataset)


def test_cutmix_box_is_clipped_and_lambda_counts_the_clipped_area():
    torch.manual_seed(0)
    for _ in range(200):
        top, bottom, left, right = random_box(10, 12, lam=0.1)
        assert 0 <= top <= bottom <= 10 and 0 <= left <= right <= 12
    images, _ = batch(4, size=10)
    mixed, kept = cutmix(images, lam=0.0)  # lam 0 asks for the whole image: what is kept is what was not pasted
    assert kept == pytest.approx((mixed[0, 0] == 0).float().mean().item())


@pytest.mark.parametrize("switch_prob", [0.0, 0.5, 1.0])
def test_soft_targets_are_distributions_and_the_switch_picks_mixup_or_cutmix(switch_prob):
    torch.manual_seed(0)
    mixer = BatchMixer(NUM_CLASSES, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=switch_prob)
    kinds = set()
    for _ in range(40):
        images, labels = batch()
        mixed, target = mixer(images, labels)
        assert target.shape == (8, NUM_CLASSES) and (target >= 0).all()
        torch.testing.assert_close(target.sum(1), torch.ones(8))
        only_own_or_partner = all(torch.isin(mixed[i], torch.tensor([float(i), 7.0 - i])).all() for i in range(8))
        kinds.add("cutmix" if only_own_or_partner else "mixup")
    assert kinds == {0.0: {"mixup"}, 0.5: {"mixup", "cutmix"}, 1.0: {"cutmix"}}[switch_prob]


def test_mix_prob_zero_leaves_batches_alone_with_one_hot_targets():
    images, labels = batch()
    mixed, target = BatchMixer(NUM_CLASSES, mixup_alpha=1.0, prob=0.0)(images, labels)
    assert torch.equal(mixed, images) and torch.equal(target, F.one_hot(labels, NUM_CLASSES).float())


def task_with(loss: nn.Module, **mixing) -> ClassificationTask:
    return ClassificationTask(nn.Flatten(), loss, num_classes=3, **mixing)


def test_soft_target_cross_entropy_with_label_smoothing_matches_the_hand_computed_value():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
    soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.25, 0.75]])
    eps = 0.1
    smoothed = (1 - eps) * soft + eps / 3  # smoothing is applied to the mixed target, as timm does
    log_p = logits - logits.exp().sum(1, keepdim=True).log()
    expected = -(smoothed * log_p).sum(1).mean()
    task = task_with(nn.CrossEntropyLoss(label_smoothing=eps))
    torch.testing.assert_close(task.loss(logits, soft), expected)
    assert expected.item() == pytest.approx(1.2185, abs=1e-3)  # (0.8766 + 1.5603) / 2, worked by hand


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss(label_smoothing=0.1), nn.NLLLoss(), nn.BCEWithLogitsLoss(),
                                  nn.MSELoss()], ids=lambda m: type(m).__name__)
def test_every_loss_gives_the_same_value_for_one_hot_targets_and_class_indices(loss):
    torch.manual_seed(0)
    logits, labels = torch.randn(5, 3), torch.tensor([0, 2, 1, 1, 0])
    task = task_with(loss)
    torch.testing.assert_close(task.loss(logits, F.one_hot(labels, 3).float()), task.loss(logits, labels))


def test_training_batches_are_mixed_and_validation_batches_are_not():
    seen: list[torch.Tensor] = []
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, NUM_CLASSES))
    model.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].clone()))
    task = ClassificationTask(model, nn.CrossEntropyLoss(), NUM_CLASSES, mixup_alpha=1.0, cutmix_alpha=1.0)
    images, labels = batch()
    torch.manual_seed(0)
    loss = task.training_step((images, labels), 0)["loss"]
    assert not torch.equal(seen[-1], images) and loss.isfinite()
    task.validation_step((images, labels), 0)
    assert torch.equal(seen[-1], images)
    plain = ClassificationTask(model, nn.CrossEntropyLoss(), NUM_CLASSES)
    plain.validation_step((images, labels), 0)
    assert task.compute_metrics("val") == plain.compute_metrics("val")  # validation metrics unchanged


def test_mixup_on_the_digits_trains_and_learns_through_the_cli(cli):
    cli("data.augment.mixup_alpha=0.4", "data.augment.cutmix_alpha=1.0", "trainer.max_epochs=3",
        "logger=none", "callbacks=none")
    results = json.loads(next((cli.root / "outputs").rglob("results.json")).read_text())
    assert results["best"] > 0.6  # chance is 0.1; the same MLP reaches ~0.9 in 3 mixed epochs


@pytest.mark.parametrize("option, message", [({"cutmix_alpha": -1}, "cutmix_alpha=-1"),
                                             ({"mixup_alpha": 0.2, "prob": 1.5}, "mix_prob=1.5")])
def test_bad_mixing_options_are_user_errors_that_name_the_key(option, message):
    with pytest.raises(UserError, match=message):
        BatchMixer(NUM_CLASSES, **option)


def test_mixing_a_dataset_that_is_not_images_is_a_user_error():
    task = task_with(nn.CrossEntropyLoss(), mixup_alpha=0.2)
    with pytest.raises(UserError, match="not an image dataset"):
        task.check_data(SimpleNamespace(num_classes=3))  # e.g. tabular features: nothing to mix or cut
