"""Pi-model and Mean Teacher: the pieces (EMA, ramp-up, perturbations, two-stream batches, one training step
of each, the teacher as the evaluated model) and (slow) the gain over labels alone with 10% of the digits' labels."""
from __future__ import annotations

import math

import pytest
import torch
from hydra.utils import instantiate

from dltrain import api
from dltrain.data.augment.perturbation import gaussian_noise, perturb, random_translate
from dltrain.data.vision.digits import DigitsData
from dltrain.data.vision.semi_supervised import stratified_subset
from dltrain.engine.sharding import Shards, is_sharded
from dltrain.errors import UserError
from dltrain.models.classification.mlp import MLP
from dltrain.tasks.semi_supervised import MeanTeacherTask, PiModelTask, ema_update, sigmoid_rampup, softmax_consistency


def test_ema_update_formula():
    teacher, student = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = [p.detach().clone() for p in teacher.parameters()]
    ema_update(teacher, student, decay=0.9)
    for old, new, s in zip(before, teacher.parameters(), student.parameters()):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * s)
    ema_update(teacher, student, decay=0.0)  # decay 0: the teacher becomes the student
    for new, s in zip(teacher.parameters(), student.parameters()):
        torch.testing.assert_close(new, s)


def test_sigmoid_rampup_shape():
    values = [sigmoid_rampup(e, 5) for e in range(8)]
    assert values[0] == pytest.approx(math.exp(-5))
    assert values[5] == values[6] == values[7] == 1.0
    assert all(a < b for a, b in zip(values[:5], values[1:6]))  # rising until the end of the ramp
    assert values[2] == pytest.approx(math.exp(-5 * 0.6 ** 2))
    assert sigmoid_rampup(0, 0) == 1.0


def test_softmax_consistency_is_zero_for_equal_predictions_and_positive_otherwise():
    logits = torch.randn(4, 10)
    assert softmax_consistency(logits, logits) == 0
    assert softmax_consistency(logits, torch.randn(4, 10)) > 0


def test_stratified_subset_keeps_every_class_share():
    labels = torch.arange(10).repeat_interleave(torch.tensor([100, 50, 100, 100, 100, 100, 100, 100, 100, 50]))
    kept = stratified_subset(labels, 0.1, seed=0)
    assert len(kept) == 90 and stratified_subset(labels, 0.1, seed=0) == kept
    counts = torch.bincount(labels[kept], minlength=10)
    assert counts[0] == 10 and counts[1] == 5


@pytest.fixture(scope="module")
def semi_data():
    data = instantiate(api.compose(["data=digits_semi", "data.batch_size=8"]).data)
    data.setup()
    return data


def test_batches_hold_labelled_images_and_two_views_of_unlabelled_ones(semi_data):
    batch = next(iter(semi_data.train_dataloader(0)))
    assert set(batch) == {"labeled", "label", "unlabeled", "unlabeled_2"}
    assert batch["labeled"].shape == batch["unlabeled"].shape == (8, 1, 8, 8) and batch["label"].shape == (8,)
    assert not torch.equal(batch["unlabeled"], batch["unlabeled_2"])  # two independent augmentations
    labeled = {int(i) for i in semi_data.labeled_index}
    assert len(labeled) == round(0.1 * len(semi_data.base.train_dataset))


def test_unlabelled_batches_can_be_bigger_and_cover_the_training_split_once_per_epoch():
    data = instantiate(api.compose(["data=digits_semi", "data.batch_size=4", "data.unlabeled_batch_size=100",
                                    "data.base.augment.random_crop_padding=0"]).data)
    data.setup()
    train = data.base.train_dataset
    batches = list(data.train_dataloader(3))
    assert len(batches) == -(-len(train) // 100) and len(data.train_dataloader(3)) == len(batches)
    assert all(len(b["labeled"]) == 4 and len(b["unlabeled"]) == 100 for b in batches[:-1])
    # without augmentation the two views are the same images: together, every training image exactly once
    seen = torch.cat([b["unlabeled"] for b in batches]).flatten(1)
    assert torch.equal(torch.cat([b["unlabeled_2"] for b in batches]).flatten(1), seen)
    assert len(seen) == len(train)
    assert torch.equal(seen.unique(dim=0), train.images.flatten(1).unique(dim=0))
    labelled_images = train.images[data.labeled_index].flatten(1)
    for image in torch.cat([b["labeled"] for b in batches]).flatten(1)[:50]:  # labelled stream: labelled subset only
        assert (labelled_images == image).all(1).any()


def test_under_ddp_the_ranks_take_turns_with_the_batches_and_get_as_many_each():
    """The pre-made batches are one training set: sharded with padding, or a rank with one batch more waits for
    the others in an all-reduce for ever (Pi-model under trainer=ddp hung so)."""
    data = instantiate(api.compose(["data=digits_semi", "data.batch_size=4", "data.unlabeled_batch_size=100",
                                    "data.base.augment.random_crop_padding=0"]).data)
    data.setup()
    single = [b["unlabeled"] for b in data.train_dataloader(3)]
    assert len(single) % 2 == 1  # 13 batches: one rank would get one more without padding
    for rank in (0, 1):
        data.shards = Shards(rank, world_size=2, shard_eval=True)
        loader = data.train_dataloader(3)
        assert is_sharded(loader) and len(loader) == (len(single) + 1) // 2
        padded = (single + single)[rank:len(single) + 1:2]  # DistributedSampler's padding repeats the first
        assert all(torch.equal(b["unlabeled"], expected) for b, expected in zip(loader, padded, strict=True))


def test_random_translate_shifts_each_image_by_its_own_offset():
    torch.manual_seed(0)
    images = torch.randn(32, 3, 6, 6)
    shifted = random_translate(images, 2)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2), mode="replicate")
    offsets = []
    for image, out in zip(padded, shifted):
        found = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(image[:, dy:dy + 6, dx:dx + 6], out)]
        assert found, "every output is a 6x6 window of its padded input"
        offsets.append(found[0])
    assert len(set(offsets)) > 5  # drawn per image, not once per batch
    assert random_translate(images, 0) is images and gaussian_noise(images, 0.0) is images
    noise = gaussian_noise(torch.zeros(10_000), 0.5)
    assert abs(float(noise.std()) - 0.5) < 0.02 and abs(float(noise.mean())) < 0.02


def test_views_are_perturbed_in_training_only():
    task = PiModelTask(MLP(10, 1, 8), torch.nn.CrossEntropyLoss(), 10, translate=1, input_noise=0.1)
    images = torch.randn(4, 1, 8, 8)
    task.train()
    assert not torch.equal(task.view(images), task.view(images))
    task.eval()
    assert task.view(images) is images
    with pytest.raises(UserError, match="must be >= 0"):
        PiModelTask(MLP(10, 1, 8), torch.nn.CrossEntropyLoss(), 10, input_noise=-1)
    assert perturb(images) is images


def test_pi_model_step_trains_the_student_with_both_losses(semi_data):
    task = PiModelTask(MLP(10, 1, 8, hidden_sizes=[16]), torch.nn.CrossEntropyLoss(), 10, rampup_epochs=5)
    task.train()
    out = task.training_step(next(iter(semi_data.train_dataloader(0))), 0)
    out["loss"].backward()
    assert out["log"]["train/consistency"] > 0 and int(task.epochs_started) == 1
    assert out["log"]["train/consistency_weight"] == pytest.approx(math.exp(-5))
    assert all(p.grad is not None for p in task.model.parameters())


class FakeOptimization:
    """Steps a plain SGD optimizer; ``steps`` says which calls end an accumulation window."""

    def __init__(self, parameters, steps: list[bool]) -> None:
        self.optimizer, self.steps = torch.optim.SGD(parameters, lr=0.1), iter(steps)

    def backward(self, loss: torch.Tensor, name: str = "model") -> None:
        loss.backward()

    def step(self, name: str = "model") -> bool:
        stepped = next(self.steps)
        if stepped:
            self.optimizer.step()
            self.optimizer.zero_grad()
        return stepped


def test_mean_teacher_follows_the_student_by_ema_after_optimizer_steps_only(semi_data):
    task = MeanTeacherTask(MLP(10, 1, 8, hidden_sizes=[16]), torch.nn.CrossEntropyLoss(), 10, ema_decay=0.99)
    task.train()
    assert not any(p.requires_grad for p in task.teacher.parameters())
    optim = FakeOptimization(task.model.parameters(), [False, True])
    batches = iter(semi_data.train_dataloader(0))
    teacher_before = [p.clone() for p in task.teacher.parameters()]
    task.training_step(next(batches), 0, optim)  # no optimizer step: no EMA update
    assert all(torch.equal(a, b) for a, b in zip(teacher_before, task.teacher.parameters()))
    task.training_step(next(batches), 1, optim)
    decay = min(1 - 1 / 2, 0.99)  # the warm-up of the decay at the first step
    for old, new, s in zip(teacher_before, task.teacher.parameters(), task.model.parameters()):
        torch.testing.assert_close(new, decay * old + (1 - decay) * s)
    assert int(task.ema_steps) == 1


def test_mean_teacher_decay_warms_up_and_switches_once_the_rampup_is_over():
    task = MeanTeacherTask(MLP(10, 1, 8, hidden_sizes=[16]), torch.nn.CrossEntropyLoss(), 10, rampup_epochs=2,
                           ema_decay=0.9, ema_decay_after_rampup=0.99)
    task.ema_steps.fill_(1000)
    task.epochs_started.fill_(2)  # epoch 1: still ramping up
    assert task.current_ema_decay() == 0.9
    task.epochs_started.fill_(3)  # epoch 2 = rampup_epochs: the weight is at full strength
    assert task.current_ema_decay() == 0.99
    task.ema_steps.fill_(1)  # the warm-up caps it at 1 - 1/(t+1)
    assert task.current_ema_decay() == 0.5
    with pytest.raises(UserError, match="must be in"):
        MeanTeacherTask(MLP(10, 1, 8), torch.nn.CrossEntropyLoss(), 10, ema_decay_after_rampup=1.0)


def test_semi_supervised_tasks_refuse_plain_data():
    task = PiModelTask(MLP(10, 1, 8), torch.nn.CrossEntropyLoss(), 10, name="pi_model")
    with pytest.raises(UserError, match="data=digits_semi"):
        task.check_data(DigitsData())


def test_mean_teacher_reports_the_teacher_as_val_acc_and_the_student_beside_it():
    task = MeanTeacherTask(MLP(10, 1, 8, hidden_sizes=[16]), torch.nn.CrossEntropyLoss(), 10)
    with torch.no_grad():
        task.teacher.head.bias.copy_(torch.arange(10) * 100.0)  # the teacher always says 9
        task.model.head.bias.copy_(-torch.arange(10) * 100.0)   # the student always says 0
    task.eval()
    images, target = torch.randn(6, 1, 8, 8), torch.tensor([9, 9, 9, 0, 1, 2])
    task.validation_step((images, target), 0)
    metrics = task.compute_metrics("val")
    assert metrics["val/acc"] == pytest.approx(0.5) and metrics["val/student_acc"] == pytest.approx(1 / 6)
    assert task.model is not task.teacher  # the swap for evaluation is undone


@pytest.mark.slow
def test_pi_model_and_mean_teacher_beat_labels_alone_with_10_percent_of_the_digits_labels(train_run):
    """The recipes (10% of the labels: 126 images) against labels alone with the same model, noise, labelled
    batches and steps (only the consistency weight differs), on the default seed 42. Both must gain at least
    1.5 test points (measured: +5.6 Pi-model, +3.7 Mean Teacher). One seed keeps this at 3 runs (~2 min); the
    other seeds and the run-to-run noise (about 1 point on a 270-image test split) are in docs/paradigms.md."""
    alone = train_run("experiment=pi_model_digits", "task.consistency_weight=0")
    gains = {method: train_run(f"experiment={method}_digits")["test"]["test/acc"] - alone["test"]["test/acc"]
             for method in ("pi_model", "mean_teacher")}
    baseline = alone["test"]["test/acc"]
    assert baseline > 0.9 and all(gain >= 0.015 for gain in gains.values()), (baseline, gains)
