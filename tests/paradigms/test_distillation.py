"""Knowledge distillation: the loss, the frozen eval-mode teacher, and (slow) a student that gains from it."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from dltrain import checkpoint
from dltrain.errors import UserError
from dltrain.launch.build import load_teacher
from dltrain.models.classification.mlp import MLP
from dltrain.tasks.distillation import DistillationTask, distillation_loss

TEACHER_MODEL = {"_target_": "dltrain.models.classification.mlp.mlp", "num_classes": 10, "in_channels": 1,
                 "image_size": 8, "hidden_sizes": [32], "dropout": 0.5}


def write_teacher(path: Path) -> MLP:
    teacher = MLP(10, 1, 8, hidden_sizes=[32], dropout=0.5)
    checkpoint.save({"model": teacher.state_dict(), "config": OmegaConf.to_yaml({"model": TEACHER_MODEL})}, path)
    return teacher


def test_at_temperature_one_and_alpha_zero_the_loss_is_cross_entropy():
    student, teacher, target = torch.randn(6, 10), torch.randn(6, 10), torch.randint(0, 10, (6,))
    loss = distillation_loss(student, teacher, target, temperature=1.0, alpha=0.0)
    torch.testing.assert_close(loss, F.cross_entropy(student, target))


def test_the_soft_term_is_the_kl_divergence_scaled_by_t_squared():
    student, teacher, target = torch.randn(6, 10), torch.randn(6, 10), torch.randint(0, 10, (6,))
    assert distillation_loss(teacher, teacher, target, 4.0, 1.0).abs() < 1e-6  # same distributions: KL = 0
    p, log_q = (teacher / 4).softmax(1), (student / 4).log_softmax(1)
    by_hand = (p * (p.log() - log_q)).sum(1).mean() * 16
    torch.testing.assert_close(distillation_loss(student, teacher, target, 4.0, 1.0), by_hand)


def test_teacher_is_loaded_frozen_and_stays_in_eval_mode(tmp_path):
    reference = write_teacher(tmp_path / "teacher.ckpt")
    task = DistillationTask(MLP(10, 1, 8, hidden_sizes=[8]), torch.nn.CrossEntropyLoss(), 10,
                            teacher=load_teacher(str(tmp_path / "teacher.ckpt")))
    task.train()
    assert task.model.training and not task.teacher.training
    assert not any(p.requires_grad for p in task.teacher.parameters())
    assert all(not name.startswith("teacher.") for name, _ in task.optimizer_groups()["model"])
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(task.teacher(x), reference.eval()(x))  # no dropout: deterministic
    out = task.training_step((x, torch.tensor([1, 2, 3])), 0)
    out["loss"].backward()
    assert all(p.grad is None for p in task.teacher.parameters())
    assert not any(k.startswith("teacher.") for k in task.extra_state())  # it comes from teacher_ckpt
    task.load_extra_state(task.extra_state())


def test_missing_or_mismatched_teacher_fails_in_one_sentence(tmp_path):
    with pytest.raises(UserError, match="teacher_ckpt=PATH"):
        DistillationTask(MLP(10, 1, 8), torch.nn.CrossEntropyLoss(), 10)
    write_teacher(tmp_path / "teacher.ckpt")
    task = DistillationTask(MLP(3, 1, 8), torch.nn.CrossEntropyLoss(), 3, teacher=load_teacher(str(tmp_path / "teacher.ckpt")))
    with pytest.raises(UserError, match="10 logits per image and the student 3"):
        task.example_forward((torch.randn(2, 1, 8, 8), torch.tensor([0, 1])))


@pytest.mark.slow
def test_distilled_student_beats_the_same_student_trained_alone_on_10_percent_of_digits(train_run):
    teacher = train_run("model=mlp", "trainer.max_epochs=15")
    assert teacher["test"]["test/acc"] > 0.95
    teacher_ckpt = next(train_run.root.glob("run0/checkpoints/best.ckpt"))
    student = ["model=mlp", "model.hidden_sizes=[32]", "data=digits_semi", "data.labeled_only=true",
               "data.batch_size=16", "trainer.max_epochs=30", "optimizer.lr=0.01"]
    alone = train_run(*student)
    distilled = train_run(*student, "task=distillation", f"task.teacher_ckpt={teacher_ckpt}")
    assert distilled["test"]["test/acc"] > alone["test"]["test/acc"] + 0.02, (alone["test"], distilled["test"])
