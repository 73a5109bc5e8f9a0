"""Text classification sets: story sentiment (generated, offline) and AG News (download).

Story sentiment: short descriptions from the story world of
``sentence_pairs.py`` (``anna found a lovely cake in the park .``), labelled
positive (1) or negative (0) by their adjective. The training set is small
and uses only half of the adjectives of each sentiment; validation and test
use the *other* half. A model trained on these labels alone has never seen
the test adjectives and can only guess; a BERT encoder pre-trained on the
generated reviews (``data=review_pairs``) has seen every adjective next to
others of its sentiment and carries that over (test acc 1.0 vs 0.59 from
scratch, docs/sequence_seq2seq.md). It shares the story vocabulary, so a
pre-trained encoder's token ids match.

AG News (Zhang et al. 2015): 120,000 news titles + descriptions in 4 topics
(World, Sports, Business, Sci/Tech), downloaded as CSV; offline it fails with
one sentence naming the files to place by hand.

Every text is framed ``[CLS] words [SEP]`` (what BERT fine-tuning reads; the
LSTM reads it too). Batches are ``(ids (B, T), labels (B,))``, so the plain
classification metrics apply.
"""
from __future__ import annotations

import csv
import random
import urllib.request
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from dltrain.data.core.base import DataModule
from dltrain.data.text.sentence_pairs import (
    BERT_SPECIALS,
    CLS_ID,
    NAMES,
    NEGATIVE,
    OBJECTS,
    PLACES,
    POSITIVE,
    SEP_ID,
    story_tokenizer,
)
from dltrain.data.text.tokenizer import PAD_ID, Tokenizer, check_pad_id, pad_batch
from dltrain.errors import UserError

DESCRIPTIONS = [
    "the {object} was {adjective} .",
    "{name} found a {adjective} {object} in the {place} .",
    "it was a {adjective} {object} .",
    "{name} had a {adjective} {object} .",
]


class LabelledTexts(Dataset):
    def __init__(self, examples: list[tuple[list[int], int]]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[list[int], int]:
        return self.examples[index]


def collate_texts(batch: list[tuple[list[int], int]]) -> tuple[torch.Tensor, torch.Tensor]:
    ids, _ = pad_batch([ids for ids, _ in batch])
    return ids, torch.tensor([label for _, label in batch])


def frame(tokenizer: Tokenizer, text: str, max_tokens: int) -> list[int]:
    """[CLS] tokens [SEP], the text cut to ``max_tokens`` tokens in all."""
    return [CLS_ID, *tokenizer.encode(text)[: max_tokens - 2], SEP_ID]


def describe(rng: random.Random, adjectives: list[str], label: int) -> tuple[str, int]:
    slots = {"name": rng.choice(NAMES), "place": rng.choice(PLACES), "object": rng.choice(OBJECTS),
             "adjective": rng.choice(adjectives)}
    return rng.choice(DESCRIPTIONS).format(**slots), label


class TextClassificationData(DataModule):
    """Shared setup: subclasses return labelled (text, label) splits and the tokenizer (``load``)."""

    collate_fn = staticmethod(collate_texts)

    def __init__(self, vocab_size: int, num_classes: int, max_tokens: int = 128, pad_id: int = PAD_ID,
                 **loader_options: Any) -> None:
        super().__init__(**loader_options)
        self.vocab_size, self.num_classes, self.max_tokens = vocab_size, num_classes, max_tokens
        self.pad_id = check_pad_id(pad_id)
        self.tokenizer: Tokenizer | None = None

    def load(self) -> dict[str, list[tuple[str, int]]]:
        raise NotImplementedError

    def setup(self) -> None:
        splits = self.load()

        def encode(split: list[tuple[str, int]]) -> LabelledTexts:
            return LabelledTexts([(frame(self.tokenizer, text, self.max_tokens), label) for text, label in split])

        self.train_dataset, self.val_dataset, self.test_dataset = (encode(splits[k]) for k in ("train", "val", "test"))


class StorySentimentData(TextClassificationData):
    """Generated positive / negative descriptions; test adjectives never occur in the training labels."""

    def __init__(self, vocab_size: int = 128, num_classes: int = 2, train_size: int = 200, eval_size: int = 500,
                 unseen_test_words: bool = True, **options: Any) -> None:
        super().__init__(vocab_size, num_classes, **options)
        self.train_size, self.eval_size, self.unseen_test_words = train_size, eval_size, unseen_test_words

    def load(self) -> dict[str, list[tuple[str, int]]]:
        self.tokenizer = story_tokenizer(self.vocab_size)
        rng = random.Random(self.seed)
        half = len(POSITIVE) // 2 if self.unseen_test_words else len(POSITIVE)
        seen = (NEGATIVE[:half], POSITIVE[:half])  # indexed by label: 0 negative, 1 positive
        unseen = (NEGATIVE[half:], POSITIVE[half:]) if self.unseen_test_words else seen

        def examples(adjectives: tuple[list[str], list[str]], count: int) -> list[tuple[str, int]]:
            return [describe(rng, adjectives[i % 2], i % 2) for i in range(count)]

        return {"train": examples(seen, self.train_size), "val": examples(unseen, self.eval_size),
                "test": examples(unseen, self.eval_size)}


class AGNewsData(TextClassificationData):
    """AG News topic classification (4 classes), word level; needs a download."""

    URL = "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/{split}.csv"

    def __init__(self, root: str, vocab_size: int = 20000, num_classes: int = 4, max_tokens: int = 64,
                 val_fraction: float = 0.05, **options: Any) -> None:
        super().__init__(vocab_size, num_classes, max_tokens, **options)
        self.root, self.val_fraction = Path(root), val_fraction

    def read(self, split: str) -> list[tuple[str, int]]:
        path = self.root / f"{split}.csv"
        if not path.is_file():
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                with urllib.request.urlopen(self.URL.format(split=split), timeout=30) as response:
                    path.write_bytes(response.read())
            except OSError as error:
                raise UserError(f"Could not download AG News ({type(error).__name__}); put train.csv and test.csv "
                                f"from {self.URL.format(split='{train,test}')} in {self.root}, or use the offline "
                                "data=story_sentiment.") from None
        with path.open(newline="", encoding="utf-8") as handle:  # rows: class (1-4), title, description
            return [(f"{title} . {body}", int(label) - 1) for label, title, body in csv.reader(handle)]

    def load(self) -> dict[str, list[tuple[str, int]]]:
        train, test = self.read("train"), self.read("test")
        random.Random(self.seed).shuffle(train)
        n_val = int(len(train) * self.val_fraction)
        self.tokenizer = Tokenizer("word", max_size=self.vocab_size).fit(
            (text for text, _ in train[n_val:]), extra_specials=BERT_SPECIALS)
        return {"train": train[n_val:], "val": train[:n_val], "test": test}
