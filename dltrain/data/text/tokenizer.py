"""Text to token ids and back: character- and word-level tokenisers with a vocabulary.

The vocabulary keeps tokens seen at least ``min_freq`` times, most frequent
first, capped at ``max_size`` entries including the four specials
(``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2, ``<eos>`` = 3). A data config
states ``vocab_size`` as a fact, so a model can be built before the corpus is
read: the tokenizer is capped at that size, and ids never reach beyond it.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from dltrain.errors import UserError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)

_WORD = re.compile(r"\w+|[^\w\s]")


class Vocab:
    def __init__(
        self,
        tokens: Iterable[str],
        min_freq: int = 1,
        max_size: int | None = None,
        extra_specials: Sequence[str] = (),
    ) -> None:
        self.specials = list(SPECIALS) + [s for s in extra_specials if s not in SPECIALS]
        counts = Counter(tokens)
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in self.specials),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - len(self.specials))]
        self.itos = self.specials + kept
        self.stoi = {token: index for index, token in enumerate(self.itos)}

    @classmethod
    def from_tokens(cls, itos: Sequence[str], extra_specials: Sequence[str] = ()) -> Vocab:
        """The vocabulary ``itos`` lists, each token at its listed id (one stored in a checkpoint's config)."""
        vocab = cls((), extra_specials=extra_specials)
        if list(itos[: len(vocab.specials)]) != vocab.specials:
            raise UserError(f"the stored vocabulary does not start with the special tokens {vocab.specials}; train "
                            "again to store a vocabulary of this version.")
        vocab.itos = list(itos)
        vocab.stoi = {token: index for index, token in enumerate(vocab.itos)}
        return vocab

    def __len__(self) -> int:
        return len(self.itos)

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, UNK_ID)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.stoi.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int], skip_specials: bool = True) -> list[str]:
        specials = set(range(len(self.specials))) if skip_specials else set()
        return [self.itos[i] for i in ids if i not in specials and 0 <= i < len(self.itos)]


def split_chars(text: str) -> list[str]:
    return list(text)


def split_words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks (``"Hi, there!"`` -> ``hi , there !``)."""
    return _WORD.findall(text.lower())


class Tokenizer:
    """``level="char"`` or ``"word"``; ``fit`` builds the vocabulary from a corpus."""

    def __init__(self, level: str = "char", min_freq: int = 1, max_size: int | None = None) -> None:
        if level not in ("char", "word"):
            raise ValueError(f"tokenizer level must be 'char' or 'word', not {level!r}")
        self.level, self.min_freq, self.max_size = level, min_freq, max_size
        self.split = split_chars if level == "char" else split_words
        self.joiner = "" if level == "char" else " "
        self.vocab: Vocab | None = None

    def fit(self, texts: Iterable[str], extra_specials: Sequence[str] = ()) -> "Tokenizer":
        self.vocab = Vocab((t for text in texts for t in self.split(text)), self.min_freq, self.max_size,
                           extra_specials)
        return self

    def use_vocabulary(self, itos: Sequence[str], extra_specials: Sequence[str] = ()) -> "Tokenizer":
        """The vocabulary of an earlier ``fit`` (its ``vocab.itos``), instead of fitting a new one."""
        self.vocab = Vocab.from_tokens(itos, extra_specials)
        return self

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = self.vocab.encode(self.split(text))
        return ([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else [])

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids]
        if EOS_ID in ids:
            ids = ids[: ids.index(EOS_ID)]
        return self.joiner.join(self.vocab.decode(ids))


def check_pad_id(pad_id: int) -> int:
    """``data.pad_id`` tells models which token id is padding; it is a fact of these tokenisers, not a setting."""
    if pad_id != PAD_ID:
        raise UserError(f"data.pad_id={pad_id}, but dltrain's tokenisers pad with id {PAD_ID}; leave data.pad_id "
                        f"at {PAD_ID} (the models read it from the data config).")
    return pad_id


def pad_batch(sequences: Sequence[Sequence[int] | torch.Tensor], pad_id: int = PAD_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence: (ids (B, T) long, mask (B, T) bool, True on real tokens)."""
    length = max((len(s) for s in sequences), default=0)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.bool)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = True
    return ids, mask
