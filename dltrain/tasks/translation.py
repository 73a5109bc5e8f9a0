"""Sequence-to-sequence translation: teacher forcing in training, greedy and beam search at validation.

Training (teacher forcing). The decoder reads the *reference* prefix, not its
own guesses: its input is ``<bos> + target[:-1]`` and it is trained to
predict ``target`` (which ends in ``<eos>``) with token-level cross-entropy;
padding is ignored.

Validation decodes from scratch, as at test time:

* greedy: at each step append the most likely token, until ``<eos>``;
* beam search: keep the ``beam_size`` prefixes with the highest total
  log-probability; a finished prefix stays in the beam unchanged (it can
  only be extended with padding at no cost). Beam 1 is greedy.

Metrics over the whole pass: teacher-forced ``loss``, ``exact_match`` (the
whole output equals the reference) and corpus BLEU named by its tokenisation
(sacrebleu): ``bleu_char`` (character n-grams) for character-level data,
``bleu_13a`` (its 13a word tokenizer) for word-level data, for greedy decoding
and, when ``beam_size > 1``, for beam search (``exact_match_beam``,
``bleu_char_beam`` / ``bleu_13a_beam``). ``trainer=debug`` decodes greedily
only, and no longer than the batch's longest reference. At validation end the
first validation pair is logged as text and, for models that return attention
weights, as an attention heat map (rows: output tokens, columns: source tokens).

Models follow the interface of ``dltrain/models/sequence/seq2seq.py``:
``encode(src, src_mask) -> memory`` (a dict of batch-first tensors) and
``decode(tgt_in, memory, need_weights) -> (logits, weights or None)``.
"""
from __future__ import annotations

from typing import Any

import sacrebleu
import torch
import torch.nn.functional as F
from torch import nn

from dltrain.data.text.tokenizer import BOS_ID, EOS_ID, PAD_ID, Tokenizer
from dltrain.errors import UserError
from dltrain.tasks.base import Task
from dltrain.visuals.grids import heatmap

Memory = dict[str, torch.Tensor]


def decoder_input(tgt: torch.Tensor) -> torch.Tensor:
    """<bos> + target[:-1]: what the decoder reads under teacher forcing."""
    return torch.cat([torch.full_like(tgt[:, :1], BOS_ID), tgt[:, :-1]], dim=1)


def select_rows(memory: Memory, index: torch.Tensor) -> Memory:
    """The memory of the sentences ``index`` (repeats a sentence once per beam)."""
    return {k: v.index_select(0, index) for k, v in memory.items()}


def next_token_log_probs(model: nn.Module, prefix: torch.Tensor, memory: Memory) -> torch.Tensor:
    """log p(y_t | prefix, source) for the last position, (N, V). The whole prefix is re-read each step:
    the targets are short and one code path then serves RNNs and Transformers alike."""
    logits, _ = model.decode(prefix, memory)
    return logits[:, -1].float().log_softmax(dim=-1)


def greedy_decode(model: nn.Module, memory: Memory, batch_size: int, max_len: int) -> torch.Tensor:
    """(B, <= max_len) token ids; rows that produced <eos> are padded afterwards."""
    device = next(iter(memory.values())).device
    prefix = torch.full((batch_size, 1), BOS_ID, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    for _ in range(max_len):
        token = next_token_log_probs(model, prefix, memory).argmax(dim=-1).masked_fill(finished, PAD_ID)
        prefix = torch.cat([prefix, token[:, None]], dim=1)
        finished |= token == EOS_ID
        if finished.all():
            break
    return prefix[:, 1:]


def beam_search(model: nn.Module, memory: Memory, batch_size: int, max_len: int, beam_size: int) -> torch.Tensor:
    """(B, <= max_len) ids of the highest-scoring beam (sum of log-probabilities) per sentence."""
    device = next(iter(memory.values())).device
    beams = batch_size * beam_size
    memory = select_rows(memory, torch.arange(batch_size, device=device).repeat_interleave(beam_size))
    prefix = torch.full((beams, 1), BOS_ID, dtype=torch.long, device=device)
    scores = torch.zeros(batch_size, beam_size, device=device)
    scores[:, 1:] = float("-inf")  # all beams start equal: keep one copy, or the top-k would be k duplicates
    finished = torch.zeros(beams, dtype=torch.bool, device=device)
    for _ in range(max_len):
        log_probs = next_token_log_probs(model, prefix, memory)
        vocab = log_probs.shape[1]
        # a finished beam can only be extended by padding, at no cost: its score stays as it was
        log_probs[finished] = float("-inf")
        log_probs[finished, PAD_ID] = 0.0
        candidates = (scores.view(beams, 1) + log_probs).view(batch_size, beam_size * vocab)
        scores, flat = candidates.topk(beam_size, dim=1)
        parent = (torch.arange(batch_size, device=device)[:, None] * beam_size + flat // vocab).view(-1)
        token = (flat % vocab).view(-1)
        prefix = torch.cat([prefix[parent], token[:, None]], dim=1)
        finished = finished[parent] | (token == EOS_ID)
        if finished.all():
            break
    best = scores.argmax(dim=1) + torch.arange(batch_size, device=device) * beam_size
    return prefix[best, 1:]


def until_eos(ids: list[int]) -> list[int]:
    return ids[: ids.index(EOS_ID)] if EOS_ID in ids else ids


class TranslationTask(Task):
    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        name: str = "translation",
        monitor: str = "val/exact_match",
        monitor_mode: str = "max",
        beam_size: int = 4,
        max_decode_len: int = 64,
        label_smoothing: float = 0.0,
        num_text_samples: int = 8,
    ) -> None:
        super().__init__(model, name, monitor, monitor_mode)
        # ``loss`` (the root loss config) is not used: token cross-entropy, padding ignored
        self.beam_size, self.max_decode_len = beam_size, max_decode_len
        self.label_smoothing, self.num_text_samples = label_smoothing, num_text_samples
        self.tokenizer: Tokenizer | None = None
        self.reset_metrics()

    # ------------------------------------------------------------- training
    def teacher_forced_loss(self, batch: dict[str, torch.Tensor], reduction: str = "mean") -> torch.Tensor:
        logits = self.model(batch["src"], batch["src_mask"], decoder_input(batch["tgt"]))
        return F.cross_entropy(logits.flatten(0, 1).float(), batch["tgt"].flatten(), ignore_index=PAD_ID,
                               label_smoothing=self.label_smoothing, reduction=reduction)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.teacher_forced_loss(batch)

    def example_forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(batch["src"][:1], batch["src_mask"][:1], decoder_input(batch["tgt"][:1]))

    # ----------------------------------------------------------- validation
    def reset_metrics(self) -> None:
        self.loss_sum, self.token_count = torch.zeros((), dtype=torch.float64), 0
        self.references: list[list[int]] = []
        self.hypotheses: dict[str, list[list[int]]] = {"": [], "_beam": []}
        self._sample: dict[str, Any] | None = None

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.loss_sum = self.loss_sum.to(batch["tgt"].device) + self.teacher_forced_loss(batch, "sum").double()
        self.token_count += int(batch["tgt_mask"].sum())
        memory = self.model.encode(batch["src"], batch["src_mask"])
        size = batch["src"].shape[0]
        # trainer=debug: an untrained model never writes <eos>, and every step re-reads the prefix, so max_decode_len
        # steps cost O(max_decode_len^2); the batch's longest reference is as far as the check needs to decode
        max_len = min(self.max_decode_len, batch["tgt"].shape[1]) if self.quick_check else self.max_decode_len
        greedy = greedy_decode(self.model, memory, size, max_len)
        self.references += [until_eos(row) for row in batch["tgt"].tolist()]
        self.hypotheses[""] += [until_eos(row) for row in greedy.tolist()]
        if self.beam_size > 1 and not self.quick_check:  # trainer=debug checks the config: greedy decoding only
            beam = beam_search(self.model, memory, size, self.max_decode_len, self.beam_size)
            self.hypotheses["_beam"] += [until_eos(row) for row in beam.tolist()]
        if batch_idx == 0:
            self._sample = self.attention_sample(batch, memory, greedy)

    def attention_sample(self, batch: dict[str, torch.Tensor], memory: Memory, greedy: torch.Tensor) -> dict[str, Any]:
        """The first pair's source and greedy output, and the cross-attention while writing that output."""
        source = batch["src"][0, : int(batch["src_mask"][0].sum())].tolist()
        output = until_eos(greedy[0].tolist()) + [EOS_ID]
        tgt_in = torch.tensor([[BOS_ID] + output[:-1]], device=greedy.device)
        _, weights = self.model.decode(tgt_in, select_rows(memory, torch.zeros(1, dtype=torch.long,
                                                                               device=greedy.device)), True)
        return {"source": source, "weights": None if weights is None else weights[0, :, : len(source)].float().cpu()}

    def text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    @property
    def bleu_tokenize(self) -> str:
        """sacrebleu's tokeniser for this data: character n-grams for character-level text, else its 13a (word)
        tokeniser. The metric's name carries it (``bleu_char``, ``bleu_13a``): the two scales are not comparable."""
        return "char" if self.tokenizer.level == "char" else "13a"

    def bleu(self, hypotheses: list[list[int]]) -> float:
        return sacrebleu.corpus_bleu([self.text(h) for h in hypotheses], [[self.text(r) for r in self.references]],
                                     tokenize=self.bleu_tokenize).score

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        metrics = {f"{prefix}/loss": float(self.loss_sum) / max(self.token_count, 1)}
        for suffix, hypotheses in self.hypotheses.items():
            if hypotheses:
                matches = sum(h == r for h, r in zip(hypotheses, self.references))
                metrics[f"{prefix}/exact_match{suffix}"] = matches / len(self.references)
                metrics[f"{prefix}/bleu_{self.bleu_tokenize}{suffix}"] = self.bleu(hypotheses)
        self._shown = (self._sample, self.references[: self.num_text_samples],
                       self.hypotheses[""][: self.num_text_samples])
        return metrics

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        sample, references, hypotheses = self._shown
        lines = [f"{self.text(h)}  (reference: {self.text(r)})" for h, r in zip(hypotheses, references)]
        logger.log_text(f"{prefix}/translations", "\n\n".join(lines), step)
        if sample is not None and sample["weights"] is not None:
            logger.log_image(f"{prefix}/attention", heatmap(sample["weights"], cell=12), step)
            logger.log_text(f"{prefix}/attention_pair", f"{self.text(sample['source'])} -> {lines[0]}", step)

    def check_data(self, data: Any) -> None:
        """The task reads the data's tokenizer: BLEU and the logged samples need text, not ids."""
        tokenizer = getattr(data, "tokenizer", None)
        if tokenizer is None or not hasattr(data, "vocab_size"):
            raise UserError(
                f"The translation task needs a translation data module with a tokenizer, and {type(data).__name__} "
                "has none; use data=dates (offline) or data=eng_fra."
            )
        self.tokenizer = tokenizer
