"""Sentence pairs for BERT pre-training (next-sentence prediction), from generated short stories (offline).

Each story follows one person, one place and one object; consecutive
sentences share that subject, and whether the object was good or bad decides
how people react (``the cake was lovely , so anna smiled .``)::

    anna went to the market . there anna found a cake . the cake was lovely , so anna smiled .
    anna took the cake home . later anna told ben about the pleasant cake . ben laughed too .

So the corpus has the structure both pre-training objectives need: a masked
word can be inferred from its neighbours (masked LM), and a true next
sentence mentions the same person and object while a random one usually
does not (next-sentence prediction). Sentiment words share contexts with
the reactions, so their pre-trained embeddings group by sentiment: what the
``story_sentiment`` classification set (``text_classification_data.py``) tests.

The vocabulary is the story world's lexicon (not corpus counts), so it is the
same for every seed and every data set built on it: a pre-trained encoder
and its fine-tuning data always agree on token ids.

Examples are ``[CLS] A [SEP] B [SEP]`` with segment ids 0 for ``[CLS] A
[SEP]`` and 1 for ``B [SEP]``; half of the B's are the true next sentence
(``nsp_label`` 1), half a sentence of another story (0). Batches are dicts:
``ids``, ``segments``, ``mask`` (True on real tokens), ``nsp_label``.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import Dataset

from dltrain.data.core.base import DataModule
from dltrain.data.text.tokenizer import PAD_ID, Tokenizer, check_pad_id, pad_batch, split_words
from dltrain.errors import UserError

CLS, SEP, MASK = "[CLS]", "[SEP]", "[MASK]"
BERT_SPECIALS = (CLS, SEP, MASK)
CLS_ID, SEP_ID, MASK_ID = 4, 5, 6  # right after <pad> <unk> <bos> <eos>
NUM_SPECIALS = 7

NAMES = ["anna", "ben", "clara", "david", "emma", "felix", "grace", "henry", "iris", "jack", "kate", "leo",
         "maria", "nick", "olga", "paul"]
PLACES = ["garden", "market", "kitchen", "forest", "library", "beach", "school", "park", "station", "museum"]
OBJECTS = ["cake", "book", "lamp", "hat", "letter", "ball", "map", "cup", "coat", "radio", "bike", "kite"]
POSITIVE = ["good", "great", "lovely", "nice", "wonderful", "bright", "perfect", "pleasant", "superb", "charming"]
NEGATIVE = ["bad", "awful", "broken", "ugly", "terrible", "dirty", "horrible", "poor", "nasty", "dreadful"]
REACTIONS = {True: ["smiled", "laughed", "cheered", "danced"], False: ["cried", "frowned", "sighed", "groaned"]}

STORY = [  # one template is drawn per line; {name} {friend} {place} {object} {adjective} {reaction}
    ["{name} went to the {place} .", "one morning {name} walked to the {place} ."],
    ["there {name} found a {object} .", "in the {place} , {name} saw a {object} ."],
    ["the {object} was {adjective} , so {name} {reaction} .", "it was a {adjective} {object} and {name} {reaction} ."],
    ["{name} took the {object} home .", "{name} left the {object} in the {place} ."],
    ["later {name} told {friend} about the {adjective} {object} .", "{name} showed the {object} to {friend} ."],
    ["{friend} {reaction} too .", "then {friend} {reaction} as well ."],
]


def lexicon() -> list[str]:
    """Every word the generators can write, sorted: the vocabulary, independent of any seed."""
    words = set(NAMES + PLACES + OBJECTS + POSITIVE + NEGATIVE + REACTIONS[True] + REACTIONS[False])
    for template in (t for line in STORY for t in line):
        words.update(split_words(re.sub(r"\{\w+\}", " ", template)))
    return sorted(words)


def story_tokenizer(vocab_size: int) -> Tokenizer:
    """Word tokenizer over the story lexicon with the BERT specials [CLS] [SEP] [MASK] at ids 4, 5, 6."""
    tokenizer = Tokenizer("word").fit([" ".join(lexicon())], extra_specials=BERT_SPECIALS)
    if len(tokenizer.vocab) > vocab_size:
        raise UserError(f"The story vocabulary has {len(tokenizer.vocab)} tokens but data.vocab_size={vocab_size}; "
                        f"set data.vocab_size={len(tokenizer.vocab)} or more.")
    return tokenizer


def generate_story(rng: random.Random) -> list[str]:
    name, friend = rng.sample(NAMES, 2)
    positive = rng.random() < 0.5
    slots = {"name": name, "friend": friend, "place": rng.choice(PLACES), "object": rng.choice(OBJECTS)}
    sentences = []
    for line in STORY:  # each line draws its own adjective / reaction of the story's sentiment
        slots["adjective"] = rng.choice(POSITIVE if positive else NEGATIVE)
        slots["reaction"] = rng.choice(REACTIONS[positive])
        sentences.append(rng.choice(line).format(**slots))
    return sentences


def sentence_pairs(num_stories: int, seed: int,
                   generate: Callable[[random.Random], list[str]] = generate_story) -> list[tuple[str, str, int]]:
    """(A, B, is_next) for every consecutive pair of ``num_stories`` texts of ``generate``; B is a random
    sentence of another text half the time."""
    rng = random.Random(seed)
    stories = [generate(rng) for _ in range(num_stories)]
    pairs = []
    for index, story in enumerate(stories):
        for first, second in zip(story, story[1:]):
            if rng.random() < 0.5:
                pairs.append((first, second, 1))
            else:
                other = rng.choice([i for i in rng.sample(range(num_stories), 2) if i != index])
                pairs.append((first, rng.choice(stories[other]), 0))
    return pairs


class SentencePairDataset(Dataset):
    def __init__(self, examples: list[tuple[list[int], list[int], int]]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[list[int], list[int], int]:
        return self.examples[index]


def collate_sentence_pairs(batch: list[tuple[list[int], list[int], int]]) -> dict[str, torch.Tensor]:
    ids, mask = pad_batch([ids for ids, _, _ in batch])
    segments, _ = pad_batch([segments for _, segments, _ in batch])
    return {"ids": ids, "segments": segments, "mask": mask,
            "nsp_label": torch.tensor([label for _, _, label in batch])}


def encode_pair(tokenizer: Tokenizer, first: str, second: str) -> tuple[list[int], list[int]]:
    """[CLS] A [SEP] B [SEP] and its segment ids (0 for the first part, 1 for B [SEP])."""
    a, b = tokenizer.encode(first), tokenizer.encode(second)
    return [CLS_ID, *a, SEP_ID, *b, SEP_ID], [0] * (len(a) + 2) + [1] * (len(b) + 1)


class NSPCorpusData(DataModule):
    """Generated story sentence pairs for masked-LM + next-sentence pre-training."""

    collate_fn = staticmethod(collate_sentence_pairs)
    generate = staticmethod(generate_story)  # one text (a list of sentences) from a random.Random
    sentences_per_text = len(STORY)

    def __init__(self, vocab_size: int = 128, num_stories: int = 3000, val_fraction: float = 0.1,
                 test_fraction: float = 0.1, pad_id: int = PAD_ID, **loader_options: Any) -> None:
        super().__init__(**loader_options)
        self.vocab_size, self.num_stories, self.pad_id = vocab_size, num_stories, check_pad_id(pad_id)
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.tokenizer: Tokenizer | None = None

    def setup(self) -> None:
        self.tokenizer = story_tokenizer(self.vocab_size)
        # split by story (pairs of one story stay together): validation stories are unseen
        per_story = self.sentences_per_text - 1
        pairs = sentence_pairs(self.num_stories, self.seed, self.generate)
        n_val = int(self.num_stories * self.val_fraction) * per_story
        n_test = int(self.num_stories * self.test_fraction) * per_story
        examples = [(*encode_pair(self.tokenizer, a, b), label) for a, b, label in pairs]
        self.val_dataset = SentencePairDataset(examples[:n_val])
        self.test_dataset = SentencePairDataset(examples[n_val: n_val + n_test])
        self.train_dataset = SentencePairDataset(examples[n_val + n_test:])
