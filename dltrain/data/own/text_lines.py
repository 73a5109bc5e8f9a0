"""``data=text_lines``: labelled texts of your own, one per line: ``label<TAB>text``.

    dltrain data=text_lines data.path=reviews.tsv                  # model=lstm_classifier (the default here)
    dltrain data=text_lines data.path=reviews.tsv model=bert_classifier

Labels are any words or numbers (the class names, numbered in sorted order); texts are tokenised by
words (``data.level=char``: by characters) with a vocabulary of the training lines' most frequent tokens
(``data.max_vocab``), framed ``[CLS] text [SEP]`` as the other text classification sets are
(dltrain/data/text/classification.py). Validation and test lines come from ``data.val_path`` /
``data.test_path``, else they are cut from the file (stratified, seeded).

The vocabulary is a fact (``data.vocabulary``, with ``vocab_size`` and the class names): it is stored
in the checkpoint's config, so evaluation and prediction give every word the id it had in training.
In ``mode=predict`` every non-empty line of a file is a text to classify (a line ``label<TAB>text``
counts as its text).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dltrain.data.own.facts import agree
from dltrain.data.own.splits import cut_from_training
from dltrain.data.own.targets import number_the_classes
from dltrain.data.text.classification import TextClassificationData, frame
from dltrain.data.text.sentence_pairs import BERT_SPECIALS
from dltrain.data.text.tokenizer import Tokenizer, pad_batch
from dltrain.errors import UserError
from dltrain.predict.records import SampleBatch


def read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of every non-blank line of a UTF-8 text file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path} does not exist (relative paths start at {Path.cwd()}); give the path of a file "
                        "with one 'label<TAB>text' per line.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path} cannot be read as UTF-8 text ({error}); save it as a UTF-8 text file.") from None
    return [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """(text, label) of every line of ``path``; a line without a tab, label or text is a user mistake."""
    examples = []
    for number, line in read_lines(path):
        label, tab, text = line.partition("\t")
        if not tab or not label.strip() or not text.strip():
            raise UserError(f"{path}, line {number} is not 'label<TAB>text' ({line[:60]!r}); put the label, a tab "
                            "and the text on each line.")
        examples.append((text.strip(), label.strip()))
    if not examples:
        raise UserError(f"{path} holds no lines; write one 'label<TAB>text' per line.")
    return examples


class TextLinesData(TextClassificationData):
    prediction_suffixes = (".txt", ".tsv")

    def __init__(self, path: str, val_path: str | None = None, test_path: str | None = None, level: str = "word",
                 max_vocab: int = 20000, min_freq: int = 1, max_tokens: int = 128, val_fraction: float = 0.15,
                 test_fraction: float = 0.15, vocab_size: int | None = None, num_classes: int | None = None,
                 class_names: Sequence[str] | None = None, vocabulary: Sequence[str] | None = None,
                 task: str | None = None, **options: Any) -> None:
        super().__init__(vocab_size, num_classes, max_tokens, **options)
        if level not in ("word", "char"):
            raise UserError(f"data.level={level} is not word or char.")
        if task not in (None, "classification"):
            raise UserError(f"data.task={task}: text lines are classified; leave data.task unset.")
        self.path = Path(path).expanduser()
        self.split_paths = {"val": val_path, "test": test_path}
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.class_names = list(class_names) if class_names is not None else None
        self.tokenizer = Tokenizer(level, min_freq=min_freq, max_size=max_vocab)
        if vocabulary is not None:  # a checkpoint's: every token keeps its id
            self.tokenizer.use_vocabulary(list(vocabulary), BERT_SPECIALS)

    def load(self) -> dict[str, list[tuple[str, int]]]:
        files = {"train": read_labelled(self.path)}
        for split, path in self.split_paths.items():
            if path:
                files[split] = read_labelled(Path(path).expanduser())
        examples, self.class_names = number_the_classes(files, self.class_names, str(self.path))
        cut = tuple(split for split in ("val", "test") if split not in files)
        cut_from_training(examples, cut, self.val_fraction, self.test_fraction, self.seed, str(self.path))
        if self.tokenizer.vocab is None:  # fitted on the training texts only
            self.tokenizer.fit((text for text, _ in examples["train"]), extra_specials=BERT_SPECIALS)
        agree(self, {"num_classes": len(self.class_names), "vocab_size": len(self.tokenizer.vocab)}, str(self.path))
        return examples

    def facts(self) -> dict[str, Any]:
        return {"path": str(self.path.resolve()), "task": "classification", "num_classes": self.num_classes,
                "class_names": self.class_names, "vocab_size": self.vocab_size, "pad_id": self.pad_id,
                "vocabulary": self.tokenizer.vocab.itos}

    def prediction_samples(self, files: Sequence[Path]) -> SampleBatch:
        sources, ids = [], []
        for path in files:
            for number, line in read_lines(path):
                text = line.partition("\t")[2] if "\t" in line else line
                sources.append({"file": str(path), "line": number, "text": text.strip()[:200]})
                ids.append(frame(self.tokenizer, text, self.max_tokens))
        if not ids:
            raise UserError(f"{', '.join(map(str, files))} hold no lines of text; write one text per line.")
        return SampleBatch(sources, pad_batch(ids)[0])
