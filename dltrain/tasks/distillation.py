"""Knowledge distillation (Hinton, Vinyals & Dean, 2015): a small student learns from a trained teacher.

The teacher is a finished dltrain run: ``task.teacher_ckpt=PATH`` names its
checkpoint; the run builder (``dltrain.launch.build.load_teacher``) rebuilds the
teacher model from the config stored in it (checked like every stored config)
and loads its weights, and the task receives the model. The teacher is frozen and always in eval mode (no dropout,
fixed BatchNorm statistics), even while the task trains. The student is the
run's own model, any classifier config. The loss mixes the teacher's softened
distribution with the true labels:

    loss = alpha * KL(softmax(t / T) || softmax(s / T)) * T^2 + (1 - alpha) * CE(s, y)

A temperature T > 1 spreads the teacher's probability over the wrong classes
("dark knowledge": which wrong digits look alike); the T^2 keeps the soft
term's gradients the same size as T changes. At alpha = 0 the loss is plain
cross-entropy.

The teacher's weights come from ``teacher_ckpt`` each time the task is built,
so the student's checkpoints do not repeat them.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.errors import UserError
from dltrain.tasks.classification import ClassificationTask


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor, temperature: float, alpha: float
) -> torch.Tensor:
    """alpha * KL(teacher_T || student_T) * T^2 + (1 - alpha) * CE(student, target)."""
    T = temperature
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * soft * T * T + (1 - alpha) * F.cross_entropy(student_logits, target)


class DistillationTask(ClassificationTask):
    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        num_classes: int,
        teacher: nn.Module | None = None,
        temperature: float = 4.0,
        alpha: float = 0.9,
        **options: Any,
    ) -> None:
        if teacher is None:
            raise UserError("task=distillation needs a trained teacher: add task.teacher_ckpt=PATH "
                            "(the best.ckpt of an earlier dltrain run).")
        super().__init__(model, loss, num_classes, **options)
        self.teacher = teacher
        self.temperature, self.alpha = temperature, alpha

    def train(self, mode: bool = True) -> "DistillationTask":
        super().train(mode)
        self.teacher.eval()  # the teacher's predictions are fixed targets: no dropout, frozen BatchNorm
        return self

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        images, target = batch
        student_logits = self.model(images)
        with torch.no_grad():
            teacher_logits = self.teacher(images)
        loss = distillation_loss(student_logits, teacher_logits, target, self.temperature, self.alpha)
        return {"loss": loss}

    def example_forward(self, batch: Any) -> Any:
        student, teacher = self.model(batch[0][:1]), self.teacher(batch[0][:1])
        if student.shape != teacher.shape:
            raise UserError(f"The teacher gives {teacher.shape[-1]} logits per image and the student "
                            f"{student.shape[-1]}; train both on the same classes (the same data config).")
        return student

    def extra_state(self) -> dict[str, Any]:
        return {k: v for k, v in super().extra_state().items() if not k.startswith("teacher.")}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        teacher = {f"teacher.{k}": v for k, v in self.teacher.state_dict().items()}
        super().load_extra_state({**teacher, **state})
