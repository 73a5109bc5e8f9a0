"""Text classification: token ids (B, T) -> class logits; the metrics of image classification.

Batches are ``(ids, labels)``, exactly what ``ClassificationTask`` expects,
so loss, accuracy, top-k and the confusion matrix are inherited. What
changes is the sample view: the first validation texts are decoded back to
words and logged as text with their predicted and true classes.
"""
from __future__ import annotations

from typing import Any

from dltrain.errors import UserError
from dltrain.tasks.classification import ClassificationTask
from dltrain.visuals.grids import heatmap


class TextClassificationTask(ClassificationTask):
    # mode=predict: the top-k classes of each line of a text file, for data that reads such files (text_lines)
    predict_inputs = "required"
    tokenizer = None

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        logger.log_image(f"{prefix}/confusion_matrix", heatmap(self._confusion), step)
        if self._samples is not None and self.num_sample_images:
            ids, target, predicted = (t.cpu() for t in self._samples)
            lines = [f"{self.class_name(p)} ({self.class_name(t)}): {self.tokenizer.decode(row.tolist())}"
                     for row, t, p in zip(ids, target, predicted)]
            logger.log_text(f"{prefix}/predictions", "\n\n".join(lines), step)

    def check_data(self, data: Any) -> None:
        """The task reads the data's tokenizer to show the sample texts."""
        self.tokenizer = getattr(data, "tokenizer", None)
        if self.tokenizer is None or getattr(data, "num_classes", None) is None:
            raise UserError(
                f"Text classification needs a text data module with num_classes, and {type(data).__name__} is "
                "not one; use data=story_sentiment (offline) or data=ag_news."
            )
