"""Translation pairs: generated human-readable dates -> ISO dates (offline), and Tatoeba English-French.

Dates (offline, the default). Each example is one calendar day between
1950-01-01 and 2049-12-31 written in one of several human formats, drawn with
``random.Random(seed)``, and its ISO form::

    "March 5, 1998"          -> "1998-03-05"
    "5/3/98"                 -> "1998-03-05"   (day first; two-digit years 50-99 are 19xx, 00-49 are 20xx)
    "thursday 5 march 1998"  -> "1998-03-05"

Every day is used at most once, so validation and test dates never occur in
training: exact match measures generalisation, not memory. Source and target
share one character vocabulary (the model configs read ``vocab_size``).

English-French (online only): the Tatoeba sentence pairs packaged by
manythings.org (``fra-eng.zip``), tokenised by words. Offline it fails with
one sentence naming the file to place by hand.

Batches are dicts: ``src`` (B, S) ids, ``src_mask`` (True on real tokens),
``tgt`` (B, T) ids ending in <eos>, ``tgt_mask``. The decoder input
(<bos> + tgt[:-1]) is made by the task.
"""
from __future__ import annotations

import datetime
import logging
import random
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from dltrain.data.core.base import DataModule
from dltrain.data.text.tokenizer import PAD_ID, Tokenizer, check_pad_id, pad_batch
from dltrain.errors import UserError

log = logging.getLogger(__name__)

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
FIRST_DAY, DAYS = datetime.date(1950, 1, 1), 36524  # 1950-01-01 .. 2049-12-31

DATE_FORMATS: list[Callable[[datetime.date], str]] = [
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",                       # March 5, 1998
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",                        # 5 March 1998
    lambda d: f"{d.day}/{d.month}/{d.year % 100:02d}",                          # 5/3/98
    lambda d: f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}".lower(),  # thursday 5 march 1998
    lambda d: f"{WEEKDAYS[d.weekday()][:3]}, {MONTHS[d.month - 1][:3]} {d.day} {d.year}",  # Thu, Mar 5 1998
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",                            # 05.03.1998
    lambda d: f"{MONTHS[d.month - 1][:3].upper()} {d.day:02d} {d.year % 100:02d}",  # MAR 05 98
    lambda d: f"the {d.day} of {MONTHS[d.month - 1].lower()}, {d.year}",        # the 5 of march, 1998
]


def generate_dates(num_examples: int, seed: int) -> list[tuple[str, str]]:
    """``num_examples`` distinct days, each in a random human format, paired with its ISO date."""
    if not 0 < num_examples <= DAYS:
        raise UserError(f"data.num_examples={num_examples} must be between 1 and {DAYS} (one example per day).")
    rng = random.Random(seed)
    days = rng.sample(range(DAYS), num_examples)
    pairs = []
    for offset in days:
        day = FIRST_DAY + datetime.timedelta(days=offset)
        pairs.append((rng.choice(DATE_FORMATS)(day), day.isoformat()))
    return pairs


class PairDataset(Dataset):
    def __init__(self, pairs: list[tuple[list[int], list[int]]]) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[list[int], list[int]]:
        return self.pairs[index]


def collate_pairs(batch: list[tuple[list[int], list[int]]]) -> dict[str, Any]:
    src, src_mask = pad_batch([s for s, _ in batch])
    tgt, tgt_mask = pad_batch([t for _, t in batch])
    return {"src": src, "src_mask": src_mask, "tgt": tgt, "tgt_mask": tgt_mask}


class TranslationData(DataModule):
    """Text pairs -> shared-vocabulary token ids; subclasses say where the pairs come from (``load_pairs``)."""

    collate_fn = staticmethod(collate_pairs)

    def __init__(self, vocab_size: int, level: str = "char", val_fraction: float = 0.1,
                 test_fraction: float = 0.1, pad_id: int = PAD_ID, **loader_options: Any) -> None:
        super().__init__(**loader_options)
        self.vocab_size, self.level, self.pad_id = vocab_size, level, check_pad_id(pad_id)
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.tokenizer: Tokenizer | None = None

    def load_pairs(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def new_tokenizer(self) -> Tokenizer:
        """The unfitted tokenizer of both languages (``number_words.py`` splits digits apart)."""
        return Tokenizer(self.level, max_size=self.vocab_size)

    def setup(self) -> None:
        pairs = self.load_pairs()
        random.Random(self.seed).shuffle(pairs)
        n_val, n_test = int(len(pairs) * self.val_fraction), int(len(pairs) * self.test_fraction)
        splits = {"val": pairs[:n_val], "test": pairs[n_val: n_val + n_test], "train": pairs[n_val + n_test:]}
        # the vocabulary comes from training text only, capped at the configured vocab_size
        self.tokenizer = self.new_tokenizer().fit(text for pair in splits["train"] for text in pair)

        def encode(split: list[tuple[str, str]]) -> PairDataset:
            return PairDataset([(self.tokenizer.encode(s), self.tokenizer.encode(t, add_eos=True)) for s, t in split])

        self.train_dataset, self.val_dataset, self.test_dataset = (encode(splits[k]) for k in ("train", "val", "test"))
        log.info("%d / %d / %d pairs, vocabulary %d", len(splits["train"]), n_val, n_test, len(self.tokenizer.vocab))


class DatesData(TranslationData):
    """Generated human-readable dates -> ISO 8601 dates, character level (offline)."""

    def __init__(self, num_examples: int = 20000, vocab_size: int = 64, **options: Any) -> None:
        super().__init__(vocab_size=vocab_size, level="char", **options)
        self.num_examples = num_examples

    def load_pairs(self) -> list[tuple[str, str]]:
        return generate_dates(self.num_examples, self.seed)


class EngFraData(TranslationData):
    """Tatoeba English -> French sentence pairs (manythings.org ``fra-eng.zip``), word level; needs a download."""

    URL = "https://www.manythings.org/anki/fra-eng.zip"

    def __init__(self, root: str, vocab_size: int = 10000, max_pairs: int | None = 50000, max_words: int = 10,
                 **options: Any) -> None:
        super().__init__(vocab_size=vocab_size, level="word", **options)
        self.root, self.max_pairs, self.max_words = Path(root), max_pairs, max_words

    def load_pairs(self) -> list[tuple[str, str]]:
        text_file = self.root / "fra.txt"
        if not text_file.is_file():
            self.download(text_file)
        pairs = []
        for line in text_file.read_text(encoding="utf-8").splitlines():
            english, french, *_ = line.split("\t") + [""]
            # the short pairs (the file is sorted by length): a CPU-sized corpus
            if english and french and max(len(english.split()), len(french.split())) <= self.max_words:
                pairs.append((english, french))
        return pairs[: self.max_pairs]

    def download(self, text_file: Path) -> None:
        archive = self.root / "fra-eng.zip"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            request = urllib.request.Request(self.URL, headers={"User-Agent": "dltrain"})
            with urllib.request.urlopen(request, timeout=30) as response:
                archive.write_bytes(response.read())
            with zipfile.ZipFile(archive) as zipped:
                zipped.extract("fra.txt", self.root)
        except (OSError, zipfile.BadZipFile, KeyError) as error:
            raise UserError(
                f"Could not download {self.URL} ({type(error).__name__}); put fra.txt from that archive in "
                f"{self.root} by hand, or use the offline data=dates."
            ) from None
