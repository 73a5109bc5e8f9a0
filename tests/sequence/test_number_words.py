"""Numbers -> words: the generator against known spellings and an independent parser, the data, learning."""
from __future__ import annotations

import json

import pytest
import sacrebleu
import torch

from dltrain.data.text.number_words import (
    ONES,
    TENS,
    DigitWordTokenizer,
    NumbersWordsData,
    generate_number_pairs,
    number_to_words,
)
from dltrain.data.text.tokenizer import EOS_ID
from dltrain.errors import UserError
from dltrain.tasks.translation import TranslationTask

KNOWN = {
    0: "zero", 7: "seven", 13: "thirteen", 20: "twenty", 40: "forty", 99: "ninety nine", 100: "one hundred",
    101: "one hundred one", 110: "one hundred ten", 1000: "one thousand", 1234: "one thousand two hundred thirty four",
    12000: "twelve thousand", 100001: "one hundred thousand one", 900017: "nine hundred thousand seventeen",
    999999: "nine hundred ninety nine thousand nine hundred ninety nine",
}


def words_to_number(text: str) -> int:
    """The inverse, written independently of the generator: sum the groups, scale by hundred / thousand."""
    values = {word: i for i, word in enumerate(ONES)} | {word: 10 * i for i, word in enumerate(TENS) if word}
    total, group = 0, 0
    for word in text.split():
        if word == "hundred":
            group *= 100
        elif word == "thousand":
            total, group = (total + group) * 1000, 0
        else:
            group += values[word]
    return total + group


def test_known_numbers_are_spelled_as_expected_and_every_spelling_reads_back():
    assert {n: number_to_words(n) for n in KNOWN} == KNOWN
    for n in [*range(0, 2100), *range(2100, 1_000_000, 997)]:
        assert words_to_number(number_to_words(n)) == n, n
    with pytest.raises(ValueError):
        number_to_words(1_000_000)


def test_generated_pairs_are_distinct_seedable_and_cover_every_length():
    pairs = generate_number_pairs(3000, seed=1)
    assert pairs == generate_number_pairs(3000, seed=1) and pairs != generate_number_pairs(3000, seed=2)
    numbers = [int(digits) for digits, _ in pairs]
    assert len(set(numbers)) == 3000  # one example per number: no number in two splits
    assert all(number_to_words(n) == words for n, (_, words) in zip(numbers, pairs))
    assert {len(str(n)) for n in numbers} == {1, 2, 3, 4, 5, 6}  # short numbers too, not only six digits
    assert len(generate_number_pairs(10, seed=0, max_value=9)) == 10  # every one-digit number, none twice
    with pytest.raises(UserError, match="num_examples"):
        generate_number_pairs(11, seed=0, max_value=9)


def test_numbers_words_data_splits_digits_and_words_and_decodes_back():
    tokenizer = DigitWordTokenizer().fit(["1234", "one thousand two hundred thirty four"])
    assert tokenizer.decode(tokenizer.encode("1234")) == "1234"
    assert len(tokenizer.encode("1234")) == 4 and len(tokenizer.encode("one thousand")) == 2
    data = NumbersWordsData(num_examples=600, seed=0, batch_size=8)
    data.setup()
    source, target = data.train_dataset[0]
    digits = data.tokenizer.decode(source)
    assert digits.isdigit() and data.tokenizer.decode(target) == number_to_words(int(digits))
    assert target[-1] == EOS_ID and len(data.tokenizer.vocab) <= data.vocab_size
    seen = {data.tokenizer.decode(s) for s, _ in data.train_dataset.pairs}
    assert not seen & {data.tokenizer.decode(s) for s, _ in data.test_dataset.pairs}  # test numbers are unseen


def test_word_level_bleu_is_reported_as_bleu_13a():
    """Word n-grams (sacrebleu's 13a tokeniser), tagged so, beside the character BLEU of data=dates."""
    data = NumbersWordsData(num_examples=600, seed=0, batch_size=8)
    data.setup()
    task = TranslationTask(torch.nn.Identity(), beam_size=1)
    task.check_data(data)
    reference, hypothesis = "one thousand two hundred thirty four", "one thousand two hundred thirty five"
    task.references = [data.tokenizer.encode(reference)]
    task.hypotheses[""] = [data.tokenizer.encode(hypothesis)]
    metrics = task.compute_metrics("val")
    expected = sacrebleu.corpus_bleu([hypothesis], [[reference]], tokenize="13a").score
    assert metrics["val/bleu_13a"] == pytest.approx(expected) and "val/bleu" not in metrics


@pytest.mark.slow
def test_transformer_writes_unseen_numbers_in_words(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: threads cost more than they give on 2 shared cores
    # greedy decoding is asserted: beam_size=1 skips the beam search (tests/sequence/test_translation.py tests it)
    cli("experiment=transformer_numbers_words", "task.beam_size=1", "logger=csv", "trainer.log_histograms=false",
        "trainer.enable_progress_bar=false")
    (run,) = (cli.root / "outputs" / "transformer_numbers_words").iterdir()
    test = json.loads((run / "results.json").read_text())["test"]
    assert test["test/exact_match"] > 0.9 and test["test/bleu_13a"] > 95, test
