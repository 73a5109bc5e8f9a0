"""BERT pre-training: masked language modelling + next-sentence prediction (Devlin et al. 2018).

Masking (``mask_tokens``), redrawn for every batch: each real, non-special
token is chosen with probability 15%; a chosen token is replaced by
``[MASK]`` 80% of the time, by a random word 10% of the time, and left
unchanged 10% of the time. The model must predict the original token at
every chosen position (and only there). Since fine-tuning never shows
``[MASK]``, the random / unchanged cases keep the model from relying on it.
Validation masks with a generator seeded by the batch index, so every pass
scores the same masked positions.

Loss = MLM cross-entropy (over the chosen tokens) + NSP cross-entropy
(is B the sentence after A?). Metrics over the whole pass: ``mlm_loss``,
``mlm_acc`` (on the chosen tokens), ``nsp_loss``, ``nsp_acc``, ``loss``.
Batches are the dicts of ``dltrain/data/text/sentence_pairs.py``.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.data.text.sentence_pairs import MASK_ID, NUM_SPECIALS
from dltrain.errors import UserError
from dltrain.tasks.base import Task

IGNORE = -100  # cross_entropy's ignore_index: positions that were not chosen


def mask_tokens(
    ids: torch.Tensor,
    maskable: torch.Tensor,
    num_tokens: int,
    probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's 80/10/10 masking; returns (corrupted inputs, labels: the original id where chosen, -100 elsewhere).

    ``maskable`` (B, T) is True on real non-special tokens; random replacements are
    ordinary words, ids in [NUM_SPECIALS, num_tokens).
    """
    def uniform() -> torch.Tensor:
        return torch.rand(ids.shape, generator=generator).to(ids.device)

    chosen = (uniform() < probability) & maskable
    labels = ids.masked_fill(~chosen, IGNORE)
    action = uniform()  # < 0.8: [MASK], 0.8-0.9: a random word, >= 0.9: unchanged
    inputs = ids.masked_fill(chosen & (action < 0.8), MASK_ID)
    random_words = torch.randint(NUM_SPECIALS, num_tokens, ids.shape, generator=generator).to(ids.device)
    replace = chosen & (action >= 0.8) & (action < 0.9)
    return torch.where(replace, random_words, inputs), labels


class BertPretrainingTask(Task):
    def __init__(
        self,
        model: nn.Module,
        vocab_size: int,
        loss: nn.Module | None = None,
        name: str = "bert_pretraining",
        monitor: str = "val/mlm_loss",
        monitor_mode: str = "min",
        mask_probability: float = 0.15,
        nsp_weight: float = 1.0,
    ) -> None:
        super().__init__(model, name, monitor, monitor_mode)
        # ``loss`` (the root loss config) is not used: token cross-entropy with padding / unmasked ids ignored
        self.num_tokens = vocab_size  # narrowed to the real vocabulary by check_data
        self.mask_probability, self.nsp_weight = mask_probability, nsp_weight
        self.reset_metrics()

    def losses(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Summed MLM and NSP losses, correct counts and the numbers of masked tokens / pairs."""
        ids = batch["ids"]
        maskable = batch["mask"] & (ids >= NUM_SPECIALS)
        inputs, labels = mask_tokens(ids, maskable, self.num_tokens, self.mask_probability, generator)
        mlm_logits, nsp_logits = self.model(inputs, batch["segments"], batch["mask"])
        chosen = labels != IGNORE
        mlm_logits, targets = mlm_logits[chosen].float(), labels[chosen]  # score the chosen positions only
        return {
            "mlm_loss": F.cross_entropy(mlm_logits, targets, reduction="sum"),
            "mlm_correct": (mlm_logits.argmax(-1) == targets).sum(),
            "masked": chosen.sum(),
            "nsp_loss": F.cross_entropy(nsp_logits.float(), batch["nsp_label"], reduction="sum"),
            "nsp_correct": (nsp_logits.argmax(-1) == batch["nsp_label"]).sum(),
            "pairs": torch.tensor(len(ids), device=ids.device),
        }

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, Any]:
        out = self.losses(batch)
        mlm = out["mlm_loss"] / out["masked"].clamp(min=1)
        nsp = out["nsp_loss"] / out["pairs"]
        return {"loss": mlm + self.nsp_weight * nsp, "log": {"train/mlm_loss": mlm.detach(), "train/nsp_loss": nsp.detach()}}

    def example_forward(self, batch: dict[str, torch.Tensor]) -> Any:
        return self.model(batch["ids"][:1], batch["segments"][:1], batch["mask"][:1])

    def reset_metrics(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self.losses(batch, torch.Generator().manual_seed(batch_idx))  # the same masks every pass
        for key, value in out.items():
            self.sums[key] = self.sums.get(key, 0) + value.detach().double()

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        s = {k: float(v) for k, v in self.sums.items()}
        masked, pairs = max(s["masked"], 1.0), max(s["pairs"], 1.0)
        metrics = {"mlm_loss": s["mlm_loss"] / masked, "mlm_acc": s["mlm_correct"] / masked,
                   "nsp_loss": s["nsp_loss"] / pairs, "nsp_acc": s["nsp_correct"] / pairs}
        metrics["loss"] = metrics["mlm_loss"] + self.nsp_weight * metrics["nsp_loss"]
        return {f"{prefix}/{k}": v for k, v in metrics.items()}

    def check_data(self, data: Any) -> None:
        tokenizer = getattr(data, "tokenizer", None)
        if tokenizer is None or not hasattr(data, "vocab_size"):
            raise UserError(f"BERT pre-training needs a sentence-pair data module, and {type(data).__name__} is "
                            "not one; use data=nsp_corpus.")
        self.num_tokens = len(tokenizer.vocab)
