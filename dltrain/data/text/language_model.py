"""Language-modelling data: a corpus -> token streams -> (input, target) windows.

The corpus is cut into three contiguous parts, 90 / 5 / 5 % (train / val /
test), at line breaks, so validation text is text the model never saw, not
lines shuffled in between training lines. The tokenizer (character or word
level, ``dltrain.data.text.tokenizer``) is fit on the training part only, with its
vocabulary capped at the configured ``vocab_size``; rarer tokens become
``<unk>``. Each stream is cut into non-overlapping windows of ``seq_len + 1``
tokens: the input is the first ``seq_len``, the target the same window shifted
by one, so every token of a stream (but the first) is predicted exactly once
per pass and validation perplexity covers the whole stream.
"""
from __future__ import annotations

import logging

import torch
from torch.utils.data import Dataset

from dltrain.data.core.base import DataModule
from dltrain.data.text.corpora import load_corpus
from dltrain.data.text.tokenizer import Tokenizer
from dltrain.errors import UserError

log = logging.getLogger(__name__)

SPLITS = (0.90, 0.05, 0.05)


class TokenWindows(Dataset):
    """Non-overlapping windows of a token stream: item i is (ids[i*T : i*T+T], ids[i*T+1 : i*T+T+1])."""

    def __init__(self, stream: torch.Tensor, seq_len: int) -> None:
        self.stream, self.seq_len = stream, seq_len

    def __len__(self) -> int:
        return max(0, (len(self.stream) - 1) // self.seq_len)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = index * self.seq_len
        window = self.stream[start: start + self.seq_len + 1]
        return window[:-1], window[1:]


def split_text(text: str, fractions: tuple[float, ...] = SPLITS) -> list[str]:
    """Contiguous parts of ``text`` with about these fractions of its characters, cut after a newline."""
    cuts, position = [0], 0
    for fraction in fractions[:-1]:
        position += int(len(text) * fraction)
        newline = text.find("\n", position)
        cuts.append(newline + 1 if newline != -1 else position)
    cuts.append(len(text))
    return [text[a:b] for a, b in zip(cuts, cuts[1:])]


class LanguageModelData(DataModule):
    """A corpus of ``dltrain.data.text.corpora`` as next-token windows of ``seq_len`` tokens."""

    def __init__(
        self,
        corpus: str,
        root: str,
        level: str = "char",
        vocab_size: int = 256,
        min_freq: int = 1,
        seq_len: int = 64,
        sample_prompt: str = "",
        **loader_options,
    ) -> None:
        super().__init__(**loader_options)
        if level not in ("char", "word"):
            raise UserError(f"data.level={level} is not a tokenizer level; use char or word.")
        self.corpus, self.root, self.level = corpus, str(root), level
        self.vocab_size, self.min_freq, self.seq_len = vocab_size, min_freq, seq_len
        self.sample_prompt = sample_prompt
        self.tokenizer: Tokenizer | None = None
        self.streams: dict[str, torch.Tensor] = {}

    def setup(self) -> None:
        texts = dict(zip(("train", "val", "test"), split_text(load_corpus(self.corpus, self.root))))
        self.tokenizer = Tokenizer(self.level, self.min_freq, max_size=self.vocab_size).fit([texts["train"]])
        self.streams = {split: torch.tensor(self.tokenizer.encode(text), dtype=torch.long)
                        for split, text in texts.items()}
        if len(self.streams["val"]) <= self.seq_len:
            raise UserError(f"The validation stream has {len(self.streams['val'])} tokens, fewer than "
                            f"data.seq_len={self.seq_len}; lower data.seq_len.")
        log.info("corpus %s: %s tokens (train / val / test), vocabulary %d of at most %d", self.corpus,
                 " / ".join(f"{len(s):,}" for s in self.streams.values()), len(self.tokenizer.vocab), self.vocab_size)
        self.train_dataset = TokenWindows(self.streams["train"], self.seq_len)
        self.val_dataset = TokenWindows(self.streams["val"], self.seq_len)
        self.test_dataset = TokenWindows(self.streams["test"], self.seq_len)
