"""Language modelling: predict every next token of (B, T) windows.

The model maps token ids (B, T) to logits (B, T, vocab); position t is
trained to predict token t + 1 with cross-entropy (the ``loss`` group is not
used). Metrics, exact over the pass:

* ``loss``: mean negative log-likelihood (nats) per predicted token;
* ``perplexity`` = exp(mean NLL over all predicted tokens), the monitor (lower
  is better): the model is as unsure as a uniform choice among that many tokens;
* ``acc``: how often the most likely next token is the right one.

Recurrent networks' gradients can explode over long sequences, so the
experiment configs clip the gradient norm (``trainer.gradient_clip_val: 1.0``).
At each validation the model continues ``sample_prompt`` for ``sample_length``
tokens by temperature sampling, and the text goes to TensorBoard (TEXT tab); ``trainer=debug`` samples
only a few tokens.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.errors import UserError
from dltrain.tasks.base import Task

QUICK_CHECK_SAMPLE_LENGTH = 8  # tokens sampled under trainer=debug: the sampling code runs, in a fraction of a second


def perplexity(nll_sum: float, num_tokens: int) -> float:
    """exp of the mean negative log-likelihood per token."""
    return math.exp(nll_sum / num_tokens)


@torch.no_grad()
def sample(model: nn.Module, prompt: list[int], length: int, temperature: float, context: int,
           generator: torch.Generator | None = None) -> list[int]:
    """Continue ``prompt`` by ``length`` tokens, drawing each from softmax(logits / temperature).

    The model reads the last ``context`` tokens (the window length it was
    trained on), so it works for any model that maps ids to logits, recurrent
    or convolutional. Temperature < 1 sharpens the distribution (safer text),
    > 1 flattens it (more surprising text).
    """
    device = next(model.parameters()).device
    ids = list(prompt)
    for _ in range(length):
        window = torch.tensor([ids[-context:]], device=device)
        logits = model(window)[0, -1].float()
        probabilities = torch.softmax(logits / temperature, dim=-1).cpu()
        ids.append(int(torch.multinomial(probabilities, 1, generator=generator)))
    return ids


class LanguageModelTask(Task):
    # recurrent gradients explode over long windows: clip at norm 1 unless trainer.gradient_clip_val says otherwise
    default_gradient_clip_val = 1.0

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        name: str = "language_model",
        monitor: str = "val/perplexity",
        monitor_mode: str = "min",
        sample_prompt: str = "",
        sample_length: int = 200,
        temperature: float = 0.8,
    ) -> None:
        super().__init__(model, name, monitor, monitor_mode)
        if temperature <= 0:
            raise UserError(f"task.temperature={temperature} must be positive; 1.0 samples the model as it is.")
        self.sample_prompt, self.sample_length, self.temperature = sample_prompt, sample_length, temperature
        self.tokenizer: Any = None
        self.context = 64
        self.reset_metrics()

    def reset_metrics(self) -> None:
        self._nll = torch.zeros((), dtype=torch.float64)
        self._correct = torch.zeros((), dtype=torch.long)
        self._count = 0

    def check_data(self, data: Any) -> None:
        if getattr(data, "tokenizer", None) is None or getattr(data, "vocab_size", None) is None:
            raise UserError(
                f"The language-model task needs a text data module with a tokenizer, and {type(data).__name__} "
                "has none; pick a corpus (data=python_chars, python_words, tiny_shakespeare, wikitext2)."
            )
        self.tokenizer, self.context = data.tokenizer, data.seq_len

    def _logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(ids).flatten(0, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        ids, target = batch
        return F.cross_entropy(self._logits(ids), target.flatten())

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        ids, target = batch
        logits, target = self._logits(ids).float(), target.flatten()
        nll = F.cross_entropy(logits, target, reduction="sum")
        # sums stay on the device; one synchronisation in compute_metrics
        self._nll = self._nll.to(nll.device) + nll.double()
        self._correct = self._correct.to(nll.device) + (logits.argmax(-1) == target).sum()
        self._count += target.numel()

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        nll, correct, count = self._nll.item(), self._correct.item(), max(self._count, 1)
        return {f"{prefix}/loss": nll / count, f"{prefix}/perplexity": perplexity(nll, count),
                f"{prefix}/acc": correct / count}

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        if self.tokenizer is None or self.sample_length <= 0:
            return
        prompt = self.tokenizer.encode(self.sample_prompt) or [0]
        generator = torch.Generator().manual_seed(step)  # reproducible samples, different each validation
        length = min(self.sample_length, QUICK_CHECK_SAMPLE_LENGTH) if self.quick_check else self.sample_length
        ids = sample(self.model, prompt, length, self.temperature, self.context, generator)
        text = self.tokenizer.decode(ids)
        # TensorBoard renders text as Markdown: a code block keeps line breaks and indentation
        logger.log_text(f"{prefix}/sample", f"```\n{text}\n```", step)
