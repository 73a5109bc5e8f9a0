"""Sequence classification: token ids (B, T) or real-valued signals (B, C, L) -> class logits; the metrics of
image classification.

Batches are ``(inputs, labels)``, exactly what ``ClassificationTask`` expects,
so loss, accuracy, top-k and the confusion matrix are inherited. What
changes is the sample view: for text (the data module has a tokenizer) the
first validation texts are decoded back to words and logged as text with
their predicted and true classes; for signals, the predicted and true classes.
The sequence classifiers (lstm_classifier, gru_classifier, cnn1d,
tcn_classifier, bert_classifier) bring this task.
"""
from __future__ import annotations

from typing import Any

from dltrain.errors import UserError
from dltrain.tasks.classification import ClassificationTask


class TextClassificationTask(ClassificationTask):
    # mode=predict: the top-k classes of each example of a data file, for data that reads such files
    # (data=text_lines: lines of text; data=arrays: signals)
    predict_inputs = "required"
    tokenizer = None

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        if self.tokenizer is None:  # signals: nothing to decode
            super().log_visuals(logger, step, prefix)
            return
        self.log_class_figures(logger, step, prefix)
        if self._samples is not None and self.num_sample_images:
            ids, target, predicted = (t.cpu() for t in self._samples)
            lines = [f"{self.class_name(p)} ({self.class_name(t)}): {self.tokenizer.decode(row.tolist())}"
                     for row, t, p in zip(ids, target, predicted)]
            logger.log_text(f"{prefix}/predictions", "\n\n".join(lines), step)

    def check_data(self, data: Any) -> None:
        """The task reads the data's tokenizer (text data has one) to show the sample texts."""
        self.tokenizer = getattr(data, "tokenizer", None)
        if getattr(data, "num_classes", None) is None:
            raise UserError(
                f"Sequence classification needs a data module with num_classes (texts or signals), and "
                f"{type(data).__name__} has none; use data=story_sentiment, data=text_lines or data=arrays."
            )
