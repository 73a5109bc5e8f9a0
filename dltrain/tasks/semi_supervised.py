"""Semi-supervised classification: the Pi-model and Mean Teacher.

Both add to the cross-entropy of the few labelled images a consistency loss on
all images: a network should give the same prediction for two stochastic
views of one image (another augmentation, other dropout masks), which needs
no label. With the batches of ``dltrain.data.vision.semi_supervised``:

    loss = CE(f(x_labelled), y) + w(epoch) * || softmax(f(x')) - softmax(g(x'')) ||^2

(squared distance summed over classes, averaged over the batch), where x' and
x'' are two views of the same unlabelled image and

* Pi-model (Laine & Aila, 2017): g = f, two stochastic passes of the student;
* Mean Teacher (Tarvainen & Valpola, 2017): g is a teacher whose weights are an
  exponential moving average of the student's, theta' <- a theta' + (1 - a) theta,
  updated after every optimizer step. The task drives the optimizer itself
  (a ``ManualOptimizationTask``) so that it knows when a step happened
  (``optim.step`` returns True), which keeps the update exact under gradient
  accumulation. a starts small (min(1 - 1/(t+1), a), t = steps so far) so the
  teacher forgets its random start quickly. As in the paper's later runs (0.99
  during the ramp-up, 0.999 after), ``ema_decay_after_rampup`` can replace a
  once the consistency weight is at full strength: a teacher that follows fast
  while the student learns quickly, then averages over more steps (no better
  on the digits recipe, docs/paradigms.md).

The consistency weight ramps up with the sigmoid-shaped schedule of both
papers, w(e) = w_max * exp(-5 (1 - min(e / rampup_epochs, 1))^2): early
predictions are noise, and forcing them to agree would only slow learning.
The epoch counter is a buffer, so a resumed run continues the ramp.

The views must differ for the consistency to teach anything: in training
every input (labelled images and each unlabelled view, separately) is
randomly translated by up to ``translate`` pixels and gets Gaussian noise of
std ``input_noise`` (dltrain/data/augment/perturbation.py), on top of the model's
dropout. ``consistency_weight=0`` leaves exactly the supervised part: the
same model, perturbations, labelled batches and steps, i.e. the fair
"labels only" baseline of Oliver et al. (2018).

Validation: the Pi-model reports the student (the only network). Mean
Teacher reports the teacher as ``val/acc`` (so ``best.ckpt``, ``test/acc``
and ``mode=predict`` use it, as the paper evaluates the EMA model) and the
student as ``val/student_acc``.
"""
from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from dltrain.data.augment.perturbation import perturb
from dltrain.engine.optimization import Optimization
from dltrain.errors import UserError
from dltrain.metrics.classification import ClassificationMetrics
from dltrain.tasks.base import ManualOptimizationTask
from dltrain.tasks.classification import ClassificationTask


def sigmoid_rampup(epoch: float, rampup_epochs: float) -> float:
    """exp(-5 (1 - t)^2) with t = epoch / rampup_epochs clipped to [0, 1]: from e^-5 ~ 0.007 up to 1."""
    if rampup_epochs <= 0:
        return 1.0
    t = min(max(epoch / rampup_epochs, 0.0), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)


def softmax_consistency(logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """Squared distance between the two predicted distributions, summed over classes, mean over the batch."""
    difference = logits.float().softmax(dim=1) - target_logits.float().softmax(dim=1)
    return difference.pow(2).sum(dim=1).mean()


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float) -> None:
    """theta_teacher <- decay * theta_teacher + (1 - decay) * theta_student; buffers are copied."""
    for teacher_parameter, student_parameter in zip(teacher.parameters(), student.parameters()):
        teacher_parameter.lerp_(student_parameter.detach(), 1.0 - decay)
    for teacher_buffer, student_buffer in zip(teacher.buffers(), student.buffers()):
        teacher_buffer.copy_(student_buffer)


class SemiSupervisedTask(ClassificationTask):
    """What both methods share: the ramped consistency weight and the check of the data."""

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        num_classes: int,
        consistency_weight: float = 1.0,
        rampup_epochs: int = 5,
        translate: int = 0,
        input_noise: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(model, loss, num_classes, **options)
        if translate < 0 or input_noise < 0:
            raise UserError(f"task.translate={translate} and task.input_noise={input_noise} must be >= 0 "
                            "(0 turns them off; 2 pixels and 0.15 suit small images).")
        self.consistency_weight, self.rampup_epochs = consistency_weight, rampup_epochs
        self.translate, self.input_noise = translate, input_noise
        self.register_buffer("epochs_started", torch.zeros((), dtype=torch.long))

    def current_consistency_weight(self, batch_idx: int) -> float:
        """w(epoch) for this batch; the first batch of an epoch advances the epoch counter."""
        if batch_idx == 0:
            self.epochs_started += 1
        return self.consistency_weight * sigmoid_rampup(float(self.epochs_started) - 1, self.rampup_epochs)

    def view(self, images: torch.Tensor) -> torch.Tensor:
        """One stochastic view of each image: a random shift and Gaussian noise (identity in eval mode)."""
        return perturb(images, self.translate, self.input_noise) if self.training else images

    def supervised_loss(self, batch: dict[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
        return self.loss(logits, batch["label"])

    def check_data(self, data: Any) -> None:
        if not getattr(data, "is_semi_supervised", False):
            raise UserError(
                f"task={self.name} needs batches with labelled and unlabelled images, which "
                f"{type(data).__name__} does not make; use data=digits_semi (with data.labeled_only=false)."
            )


class PiModelTask(SemiSupervisedTask):
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, Any]:
        weight = self.current_consistency_weight(batch_idx)
        labeled, first, second = (self.view(batch[k]) for k in ("labeled", "unlabeled", "unlabeled_2"))
        # one forward pass over all three parts; dropout draws independent masks per sample, so the two
        # (differently perturbed) views get two different stochastic passes. Gradients flow through both
        # passes, as in Laine & Aila's Pi-model (the target is not detached).
        logits = self.model(torch.cat([labeled, first, second]))
        logits_labeled, logits_first, logits_second = logits.split([len(labeled), len(first), len(second)])
        supervised = self.supervised_loss(batch, logits_labeled)
        consistency = softmax_consistency(logits_first, logits_second)
        return {"loss": supervised + weight * consistency,
                "log": {"train/ce": supervised.detach(), "train/consistency": consistency.detach(),
                        "train/consistency_weight": weight}}


class MeanTeacherTask(ManualOptimizationTask, SemiSupervisedTask):
    distributed_metrics = ("metrics", "student_metrics")  # DDP shards evaluation and reduces these

    def __init__(self, model: nn.Module, loss: nn.Module, num_classes: int, ema_decay: float = 0.99,
                 ema_decay_after_rampup: float | None = None, **options: Any) -> None:
        super().__init__(model, loss, num_classes, **options)
        for name, decay in (("ema_decay", ema_decay), ("ema_decay_after_rampup", ema_decay_after_rampup)):
            if decay is not None and not 0 <= decay < 1:
                raise UserError(f"task.{name}={decay} must be in [0, 1), e.g. 0.99 (the teacher averages over "
                                "about 1 / (1 - decay) steps).")
        self.ema_decay, self.ema_decay_after_rampup = ema_decay, ema_decay_after_rampup
        self.teacher = copy.deepcopy(model).requires_grad_(False)
        self.register_buffer("ema_steps", torch.zeros((), dtype=torch.long))
        self.student_metrics = ClassificationMetrics(num_classes, top_k=1)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int, optim: Optimization) -> dict[str, Any]:
        weight = self.current_consistency_weight(batch_idx)
        labeled, unlabeled = self.view(batch["labeled"]), self.view(batch["unlabeled"])
        logits_labeled, logits_student = self.model(torch.cat([labeled, unlabeled])).split(
            [len(labeled), len(unlabeled)])
        with torch.no_grad():
            # the teacher is a target, not trained by gradients. It sees its own views of a batch made up as the
            # student's (labelled + unlabelled images), so BatchNorm normalises both with statistics of the same
            # mix of images; its outputs on the unlabelled images are the targets.
            teacher_input = torch.cat([self.view(batch["labeled"]), self.view(batch["unlabeled_2"])])
            logits_teacher = self.teacher(teacher_input)[len(labeled):]
        supervised = self.supervised_loss(batch, logits_labeled)
        consistency = softmax_consistency(logits_student, logits_teacher)
        loss = supervised + weight * consistency
        optim.backward(loss)
        if optim.step():
            self.ema_steps += 1
            ema_update(self.teacher, self.model, self.current_ema_decay())
        return {"loss": loss.detach(),
                "log": {"train/ce": supervised.detach(), "train/consistency": consistency.detach(),
                        "train/consistency_weight": weight}}

    def current_ema_decay(self) -> float:
        """a for this update: ema_decay during the ramp-up (ema_decay_after_rampup after it, when set), never
        above 1 - 1/(t+1) (t = optimizer steps so far, this one included)."""
        decay = self.ema_decay
        if self.ema_decay_after_rampup is not None and float(self.epochs_started) - 1 >= self.rampup_epochs:
            decay = self.ema_decay_after_rampup
        return min(1.0 - 1.0 / (float(self.ema_steps) + 1.0), decay)

    @contextlib.contextmanager
    def teacher_as_model(self) -> Iterator[None]:
        """Run the classification task's evaluation code with the teacher in the student's place."""
        student = self.model
        self.model = self.teacher
        try:
            yield
        finally:
            self.model = student

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        with self.teacher_as_model():  # the teacher is the model Mean Teacher reports
            super().validation_step(batch, batch_idx)
        images, target = batch
        logits = self.evaluation_logits(images)  # the student's, scored as the teacher's (test-time flip too)
        self.student_metrics.update(logits, target, self.loss(logits, target))

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        student = self.student_metrics.compute()
        return {**super().compute_metrics(prefix), f"{prefix}/student_acc": student["acc"]}

    def reset_metrics(self) -> None:
        super().reset_metrics()
        self.student_metrics.reset()

    def predict_step(self, batch: Any, options: Any) -> list[Any]:
        with self.teacher_as_model():
            return super().predict_step(batch, options)
