"""Pi-model and Mean Teacher: the pieces (EMA, ramp-up, two-stream batches, one training step of each)."""
from __future__ import annotations

import math

import pytest
import torch
from hydra.utils import instantiate

from dltrain import api
from dltrain.data.digits import DigitsData
from dltrain.data.semi_supervised import stratified_subset
from dltrain.errors import UserError
from dltrain.models.classification.mlp import MLP
from dltrain.tasks.semi_supervised import (MeanTeacherTask, PiModelTask, ema_update, sigmoid_rampup,
                                           softmax_consistency)


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
    assert len(semi_data.train_dataloader(0).dataset) == len(semi_data.base.train_dataset)


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


def test_semi_supervised_tasks_refuse_plain_data():
    task = PiModelTask(MLP(10, 1, 8), torch.nn.CrossEntropyLoss(), 10, name="pi_model")
    with pytest.raises(UserError, match="data=digits_semi"):
        task.check_data(DigitsData())
