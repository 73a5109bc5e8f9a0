"""Sentence pairs for BERT pre-training from generated short reviews: a corpus whose words carry sentiment.

Each review is about one object and keeps one sentiment throughout; every
sentence holds two to four different adjectives of that sentiment (and maybe
a reaction), drawn from *all* ten adjectives of that sentiment::

    the kite was lovely , superb and nice .   it was good , charming , perfect .
    awful and dirty , so paul frowned .       paul sighed , nasty and poor .

Why this corpus and not the stories of ``sentence_pairs.py``: there, two of
six story lines mention the sentiment among many predictable grammar words,
and a small BERT pre-trained for a few CPU minutes learns only which word
class goes where (content words at chance, docs/sequence_seq2seq.md). Here
about half the words are sentiment words and 15% masking often hides one,
whose only clue is the other adjectives of its sentence: masked LM must learn
that ``lovely`` and ``superb`` are interchangeable and ``awful`` is not.
With the MLM decoder tied to the token embedding, same-sentiment adjectives
end up with neighbouring embeddings, including the adjectives that the
``story_sentiment`` training labels never show -- what lets a fine-tuned
encoder classify them (``tests/sequence/test_bert_transfer.py``). Sparser
sentences (two sentiment words in eight or nine) showed no such structure
within 600 steps.

Reviews use only words of the story lexicon, so the tokenizer, its token ids
and ``vocab_size`` are those of ``nsp_corpus`` and ``story_sentiment``.
Pairs are framed as in ``sentence_pairs.py``: ``[CLS] A [SEP] B [SEP]``, B
the next sentence of the same review half of the time (same object, same
sentiment), else a sentence of another review.
"""
from __future__ import annotations

import random

from dltrain.data.text.sentence_pairs import NAMES, NEGATIVE, OBJECTS, POSITIVE, REACTIONS, NSPCorpusData

REVIEW = [  # sentence templates; {a} {b} {c} {d}: different adjectives of the review's sentiment
    "the {object} was {a} , {b} and {c} .",
    "{a} , {b} , {c} and {d} .",
    "a {a} , {b} and {c} {object} .",
    "{a} and {b} , so {name} {reaction} .",
    "it was {a} , {b} , {c} .",
    "{name} {reaction} , {a} and {b} .",
]
SENTENCES_PER_REVIEW = 4


def generate_review(rng: random.Random) -> list[str]:
    """One review: ``SENTENCES_PER_REVIEW`` sentences about one object, all of one sentiment."""
    positive = rng.random() < 0.5
    adjectives = POSITIVE if positive else NEGATIVE
    name = rng.choice(NAMES)
    thing = rng.choice(OBJECTS)
    sentences = []
    for template in rng.sample(REVIEW, SENTENCES_PER_REVIEW):
        a, b, c, d = rng.sample(adjectives, 4)
        sentences.append(template.format(name=name, object=thing, a=a, b=b, c=c, d=d,
                                         reaction=rng.choice(REACTIONS[positive])))
    return sentences


class ReviewPairsData(NSPCorpusData):
    """Generated review sentence pairs for masked-LM + next-sentence pre-training (``num_stories`` reviews)."""

    generate = staticmethod(generate_review)
    sentences_per_text = SENTENCES_PER_REVIEW
