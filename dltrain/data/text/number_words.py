"""Generated translation pairs: numbers written in digits -> the same numbers in English words (offline).

    "7"       -> "seven"
    "40"      -> "forty"
    "1234"    -> "one thousand two hundred thirty four"
    "900017"  -> "nine hundred thousand seventeen"

The spelling is plain and regular: no "and", no hyphens ("thirty four"),
"zero" only for 0 itself. Numbers run from 0 to ``max_value`` (at most
999,999). Uniform draws from that range would be almost all six-digit
numbers, so each example first draws its digit count uniformly, then a
number of that many digits; every number is used at most once, so validation
and test numbers never occur in training and exact match measures whether
the model learned the grammar of number words, not a lookup table.

Tokens: the source is split into single digits and the target into words
(``DigitWordTokenizer``), so the task is a reordering of a small vocabulary
(10 digits, 30 words) rather than spelling: "1234" is read as ``1 2 3 4``
(and decoded back to "1234"). The vocabulary is shared by source and
target; BLEU uses word n-grams.
"""
from __future__ import annotations

import random
import re
from typing import Any

from dltrain.data.text.tokenizer import Tokenizer
from dltrain.data.text.translation import TranslationData
from dltrain.errors import UserError

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
LARGEST = 999_999

_DIGIT_OR_WORD = re.compile(r"\d|[^\W\d]+|[^\w\s]")


def split_digits_and_words(text: str) -> list[str]:
    """Lower-cased tokens, one per digit; words and marks as ``text.split_words`` ("Room 42" -> room 4 2)."""
    return _DIGIT_OR_WORD.findall(text.lower())


def below_thousand(n: int) -> list[str]:
    """1..999 in words ("three hundred twelve"); 0 is the empty list (it is said only on its own)."""
    words = [ONES[n // 100], "hundred"] if n >= 100 else []
    n %= 100
    if n >= 20:
        words += [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])
    elif n:
        words.append(ONES[n])
    return words


def number_to_words(n: int) -> str:
    """0 <= n <= 999,999 in English words: 1234 -> "one thousand two hundred thirty four"."""
    if not 0 <= n <= LARGEST:
        raise ValueError(f"{n} is outside 0..{LARGEST}")
    if n == 0:
        return "zero"
    thousands, rest = divmod(n, 1000)
    words = (below_thousand(thousands) + ["thousand"] if thousands else []) + below_thousand(rest)
    return " ".join(words)


def generate_number_pairs(num_examples: int, seed: int, max_value: int = LARGEST) -> list[tuple[str, str]]:
    """``num_examples`` distinct numbers in 0..max_value, digit counts drawn uniformly, with their words."""
    if not 0 < max_value <= LARGEST:
        raise UserError(f"data.max_value={max_value} must be between 1 and {LARGEST:,} (words up to thousands).")
    if not 0 < num_examples <= max_value + 1:
        raise UserError(f"data.num_examples={num_examples} must be between 1 and {max_value + 1} "
                        f"(each number in 0..{max_value} is used at most once).")
    rng = random.Random(seed)
    ranges = [(0 if d == 1 else 10 ** (d - 1), min(10 ** d - 1, max_value)) for d in range(1, len(str(max_value)) + 1)]
    # each digit count offers only so many numbers (ten of one digit): draw from the counts not yet used up
    left = {(low, high): high - low + 1 for low, high in ranges}
    chosen: set[int] = set()
    while len(chosen) < num_examples:
        low, high = rng.choice([r for r, free in left.items() if free])
        n = rng.randint(low, high)
        if n not in chosen:
            chosen.add(n)
            left[(low, high)] -= 1
    numbers = sorted(chosen)
    rng.shuffle(numbers)  # the order of a set is not seedable; sorting then shuffling is
    return [(str(n), number_to_words(n)) for n in numbers]


class DigitWordTokenizer(Tokenizer):
    """Word-level tokenizer that splits numbers into single digits ("1234" -> 1 2 3 4)."""

    def __init__(self, min_freq: int = 1, max_size: int | None = None) -> None:
        super().__init__("word", min_freq, max_size)
        self.split = split_digits_and_words

    def decode(self, ids) -> str:
        """Words joined by spaces, digits joined together: the source reads "1234", not "1 2 3 4"."""
        return re.sub(r"(?<=\d) (?=\d)", "", super().decode(ids))


class NumbersWordsData(TranslationData):
    """Generated numbers in digits -> English words (offline); digits and words as tokens."""

    def __init__(self, num_examples: int = 20000, max_value: int = LARGEST, vocab_size: int = 48,
                 **options: Any) -> None:
        super().__init__(vocab_size=vocab_size, level="word", **options)
        self.num_examples, self.max_value = num_examples, max_value

    def new_tokenizer(self) -> Tokenizer:
        return DigitWordTokenizer(max_size=self.vocab_size)

    def load_pairs(self) -> list[tuple[str, str]]:
        return generate_number_pairs(self.num_examples, self.seed, self.max_value)
