"""Classification: logits for N classes, integer targets.

Metrics: loss, accuracy, top-k accuracy (for 1 < k < classes), balanced accuracy, all exact over
the pass. At validation end TensorBoard gets a grid of sample predictions (green frame: right, red: wrong),
a precision-recall curve per class (PR CURVES tab, up to 10 classes) and the labelled confusion matrix (at the
validations the trainer draws pictures at: dltrain/engine/picture_schedule.py). At the end of a run
(``save_figures``, ``per_class_metrics``) the last pass gives plots/confusion_matrix.png,
plots/confusion_matrix_normalized.png, plots/pr_curves.png and the per-class precision / recall / F1 / support
of per_class.csv.

The loss config decides what the logits are compared with: cross-entropy
takes logits and class indices; NLL takes log-softmax; BCE-with-logits takes
logits and one-hot targets; the regression losses (MSE, L1, Huber, smooth L1)
compare softmax probabilities with one-hot targets. Models with auxiliary
classifiers (GoogLeNet, Inception-v3) return ``{"logits", "aux", "aux_weight"}``
in training; their auxiliary losses are added with that weight.

MixUp / CutMix (``data.augment.mixup_alpha``, ``cutmix_alpha``; dltrain/data/augment/mixing.py) mix each training
batch and turn its targets into class probabilities (N, C); every loss above accepts those soft targets
(cross-entropy keeps its label smoothing). Validation and test batches are never mixed.

Test-time flip (``task.test_time_flip=true``, as in the CIFAR-10 speed records): every evaluation (validation,
test, ``mode=eval``, ``mode=predict``) scores the mean of the logits of each image and its mirror image. It
pays off for models trained with ``data.augment.horizontal_flip``, which have seen both orientations.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.data.augment.mixing import BatchMixer
from dltrain.errors import UserError
from dltrain.metrics.classification import ClassificationMetrics, per_class_scores
from dltrain.predict.records import ImageBatch, Prediction, SampleBatch
from dltrain.tasks.base import Task
from dltrain.visuals.figures import figure_to_uint8, save_figure
from dltrain.visuals.grids import labelled_grid


class ClassificationTask(Task):
    distributed_metrics = ("metrics",)  # DDP shards evaluation and reduces these (dltrain/engine/distributed.py)

    predict_inputs = "required"  # mode=predict: the top-k classes of each image file (or example of a data file)

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        num_classes: int,
        name: str = "classification",
        monitor: str = "val/acc",
        monitor_mode: str = "max",
        top_k: int = 5,
        num_sample_images: int = 16,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        mix_prob: float = 1.0,
        mix_switch_prob: float = 0.5,
        test_time_flip: bool = False,
        class_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(model, name, monitor, monitor_mode)
        self.loss_fn = loss
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names else None  # the data's (image folders, labels in files)
        self.mixer = BatchMixer(num_classes, mixup_alpha, cutmix_alpha, mix_prob, mix_switch_prob)
        self.metrics = ClassificationMetrics(num_classes, top_k)
        self.num_sample_images = num_sample_images
        self.test_time_flip = test_time_flip
        self._samples: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._confusion: torch.Tensor | None = None  # the last pass's (kept after reset_metrics for figures)
        self._pr_counts: dict[str, torch.Tensor] | None = None
        self._last_pass = "val"
        self._logged_confusion_figure = False  # at the last pass (then its image is in the loggers' last_images)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``target``: class indices (N,), or class probabilities (N, C) from MixUp / CutMix."""
        soft = target.is_floating_point()
        if isinstance(self.loss_fn, nn.CrossEntropyLoss):  # takes probabilities too, smoothing included
            return self.loss_fn(logits, target.to(logits.dtype) if soft else target)
        if isinstance(self.loss_fn, nn.NLLLoss):
            log_probs = F.log_softmax(logits, dim=1)
            # NLLLoss takes indices only; with probabilities it is the same sum over classes, written out
            return -(target * log_probs).sum(1).mean() if soft else self.loss_fn(log_probs, target)
        one_hot = target.to(logits.dtype) if soft else F.one_hot(target, self.num_classes).to(logits.dtype)
        if isinstance(self.loss_fn, nn.BCEWithLogitsLoss):
            return self.loss_fn(logits, one_hot)
        return self.loss_fn(logits.softmax(dim=1), one_hot)

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        images, target = batch
        if self.mixer.enabled:
            images, target = self.mixer(images, target)
        output = self.model(images)
        if isinstance(output, dict):  # auxiliary classifiers, weighted into the loss in training only
            loss = self.loss(output["logits"], target)
            aux_loss = sum(self.loss(aux, target) for aux in output["aux"])
            return {"loss": loss + output["aux_weight"] * aux_loss, "log": {"train/aux_loss": aux_loss}}
        return {"loss": self.loss(output, target)}

    def evaluation_logits(self, images: torch.Tensor) -> torch.Tensor:
        """The logits an evaluation scores: the model's, or with test_time_flip the mean over both mirror images."""
        logits = self.model(images).float()
        if self.test_time_flip:
            logits = (logits + self.model(images.flip(-1)).float()) / 2
        return logits

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images, target = batch
        logits = self.evaluation_logits(images)
        self.metrics.update(logits, target, self.loss(logits, target))
        if batch_idx == 0:  # the first batch is the same every epoch: predictions can be compared
            n = self.num_sample_images
            self._samples = (images[:n].detach(), target[:n].detach(), logits[:n].argmax(1).detach())

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        values = self.metrics.compute()
        self._confusion = self.metrics.confusion.cpu()
        self._pr_counts = self.metrics.pr_curves()
        self._last_pass, self._logged_confusion_figure = prefix, False
        return {f"{prefix}/{k}": v for k, v in values.items()}

    def reset_metrics(self) -> None:
        self.metrics.reset()

    def class_name(self, index: int) -> str:
        """A class as the data names it (its folder, its label in the file), else its number."""
        index = int(index)
        return self.class_names[index] if self.class_names and 0 <= index < len(self.class_names) else str(index)

    def all_class_names(self) -> list[str]:
        return [self.class_name(index) for index in range(self.num_classes)]

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        self.log_class_figures(logger, step, prefix)
        if self._samples is not None and self.num_sample_images:
            inputs, target, predicted = (t.cpu() for t in self._samples)
            captions = [f"{self.class_name(p)} ({self.class_name(t)})" for p, t in zip(predicted, target)]
            if inputs.dim() == 4:  # images: a grid with green (right) and red (wrong) frames
                logger.log_image(f"{prefix}/predictions", labelled_grid(inputs, captions,
                                                                        (predicted == target).tolist()), step)
            else:  # features or signals: the predicted (true) classes as text
                logger.log_text(f"{prefix}/predictions", "  \n".join(captions), step)

    def log_class_figures(self, logger: Any, step: int, prefix: str) -> None:
        """The PR curves (from counts) and the labelled confusion matrix of this pass."""
        if self._pr_counts is not None:
            for index, name in enumerate(self.all_class_names()):
                logger.log_pr_curve(f"{prefix}/pr/{name}", {k: v[index] for k, v in self._pr_counts.items()}, step)
        if self.quick_check:  # trainer=debug checks the config: a matplotlib figure would cost more than the run
            return
        from dltrain.visuals.confusion import confusion_figure

        figure = confusion_figure(self._confusion, self.all_class_names(), title=f"{prefix} confusion matrix")
        logger.log_image(f"{prefix}/confusion_matrix", figure_to_uint8(figure), step)
        self._logged_confusion_figure = True  # plots/confusion_matrix.png: this image, kept by the loggers

    def save_figures(self, plots_dir: Path) -> None:
        """plots/confusion_matrix.png (counts), confusion_matrix_normalized.png, pr_curves.png of the last pass."""
        if self._confusion is None:
            return
        from dltrain.visuals.confusion import confusion_figure
        from dltrain.visuals.precision_recall import pr_curves_figure

        names, split = self.all_class_names(), self._last_pass
        if not self._logged_confusion_figure:  # else the loggers' copy of the last pass's figure is written there
            save_figure(confusion_figure(self._confusion, names, title=f"{split} confusion matrix"),
                        plots_dir / "confusion_matrix.png")
        save_figure(confusion_figure(self._confusion, names, normalized=True, title=f"{split} confusion matrix"),
                    plots_dir / "confusion_matrix_normalized.png")
        if self._pr_counts is not None:
            save_figure(pr_curves_figure(self._pr_counts, names, title=f"{split} precision-recall per class"),
                        plots_dir / "pr_curves.png")

    def per_class_metrics(self) -> list[dict[str, Any]] | None:
        """Precision, recall, F1 and support of each class over the last pass (scikit-learn's definitions)."""
        if self._confusion is None:
            return None
        scores = per_class_scores(self._confusion)
        return [{"class": name, "precision": float(scores["precision"][index]),
                 "recall": float(scores["recall"][index]), "f1": float(scores["f1"][index]),
                 "support": int(scores["support"][index])}
                for index, name in enumerate(self.all_class_names())]

    def check_data(self, data: Any) -> None:
        if getattr(data, "num_classes", None) is None:
            raise UserError(
                f"The classification task needs a data config with num_classes, and {type(data).__name__} "
                "has none; pick a classification dataset (data=digits, mnist, cifar10, ...)."
            )
        images = getattr(data, "image_size", None) is not None
        if self.mixer.enabled and not images:
            raise UserError(
                f"MixUp / CutMix mix images, and {type(data).__name__} is not an image dataset; set "
                "data.augment.mixup_alpha=0 and data.augment.cutmix_alpha=0."
            )
        if self.test_time_flip and not images:
            raise UserError(
                f"task.test_time_flip=true averages each image with its mirror image, and {type(data).__name__} "
                "is not an image dataset; leave task.test_time_flip=false."
            )

    def predict_step(self, batch: ImageBatch | SampleBatch, options: Any) -> list[Prediction]:
        probabilities = self.evaluation_logits(batch.model_inputs).softmax(dim=1)
        top = probabilities.topk(min(options.top_k, self.num_classes), dim=1)
        return [Prediction(name, {**batch.describe(index),
                                  "top_k": [{"class": int(c), "name": self.class_name(c),
                                             "probability": round(float(p), 6)}
                                            for p, c in zip(top.values[index], top.indices[index])]})
                for index, name in enumerate(batch.names)]
