"""Language modelling: corpus and tokenizer, windows, perplexity, sampling, offline errors, and learning."""
from __future__ import annotations

import json
import math
import urllib.request

import pytest
import torch
from helpers import run_dirs
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from dltrain import api
from dltrain.data.tabular.time_series import SineData
from dltrain.data.text.corpora import load_corpus, python_stdlib
from dltrain.data.text.language_model import LanguageModelData, TokenWindows, split_text
from dltrain.data.text.tokenizer import UNK_ID
from dltrain.errors import UserError
from dltrain.tasks.language_model import LanguageModelTask, perplexity, sample


@pytest.fixture(scope="module")
def python_chars() -> LanguageModelData:
    data = LanguageModelData("python_stdlib", root="unused", level="char", vocab_size=64, seq_len=16, batch_size=4)
    data.setup()
    return data


def test_python_corpus_is_deterministic_real_source():
    text = python_stdlib()
    assert text == python_stdlib() and len(text) > 1_000_000
    assert "def " in text and "class " in text


def test_split_is_contiguous_90_5_5_at_line_breaks():
    text = "".join(f"line {i}\n" for i in range(1000))
    parts = split_text(text)
    assert "".join(parts) == text
    assert [round(len(p) / len(text), 2) for p in parts] == [0.9, 0.05, 0.05]
    assert all(p.endswith("\n") for p in parts)


def test_tokenizer_is_fit_on_train_capped_and_round_trips(python_chars):
    tokenizer = python_chars.tokenizer
    assert len(tokenizer.vocab) == 64  # capped at vocab_size: rare characters become <unk>
    assert int(python_chars.streams["train"].max()) < 64
    snippet = "def f(x):\n    return x"
    assert tokenizer.decode(tokenizer.encode(snippet)) == snippet
    assert UNK_ID in python_chars.streams["train"].tolist()  # the 60 most frequent characters do not cover all


def test_windows_are_the_stream_shifted_by_one(python_chars):
    ids, target = python_chars.train_dataset[3]
    stream = python_chars.streams["train"]
    torch.testing.assert_close(ids, stream[48:64])
    torch.testing.assert_close(target, stream[49:65])
    assert len(TokenWindows(torch.arange(33), 16)) == 2  # 32 predicted tokens, no partial window


def test_word_level_data_caps_its_vocabulary():
    data = LanguageModelData("python_stdlib", root="unused", level="word", vocab_size=500, seq_len=8)
    data.setup()
    assert len(data.tokenizer.vocab) == 500
    assert "def" in data.tokenizer.vocab.stoi and "return" in data.tokenizer.vocab.stoi


class FixedLogits(nn.Module):
    """Ignores its input: every position gets the same next-token distribution."""

    def __init__(self, probabilities: list[float]) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(probabilities).log())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(*ids.shape, -1)


def test_perplexity_of_a_hand_computed_case():
    # p = (1/2, 1/4, 1/8, 1/8); targets 0, 1, 3, 3: NLL = ln 2 + ln 4 + ln 8 + ln 8 = 9 ln 2 over 4 tokens
    task = LanguageModelTask(FixedLogits([0.5, 0.25, 0.125, 0.125]))
    ids = torch.zeros(2, 2, dtype=torch.long)
    task.validation_step((ids[:1], torch.tensor([[0, 1]])), 0)
    task.validation_step((ids[1:], torch.tensor([[3, 3]])), 1)
    metrics = task.compute_metrics("val")
    assert metrics["val/perplexity"] == pytest.approx(2 ** (9 / 4))
    assert metrics["val/loss"] == pytest.approx(9 / 4 * math.log(2))
    assert metrics["val/acc"] == pytest.approx(1 / 4)  # the argmax (token 0) is right once
    assert perplexity(4 * math.log(4), 4) == pytest.approx(4.0)  # uniform over 4 tokens
    task.reset_metrics()  # what the trainer does after every pass
    task.validation_step((ids[:1], torch.tensor([[0, 0]])), 0)  # the sums were reset
    assert task.compute_metrics("val")["val/perplexity"] == pytest.approx(2.0)


def test_sampling_extends_the_prompt_and_low_temperature_is_greedy():
    model = FixedLogits([0.1, 0.6, 0.3])
    ids = sample(model, [2, 2], 30, temperature=0.01, context=4, generator=torch.Generator().manual_seed(0))
    assert ids[:2] == [2, 2] and ids[2:] == [1] * 30


def test_task_refuses_data_without_a_tokenizer():
    with pytest.raises(UserError, match="tokenizer"):
        LanguageModelTask(FixedLogits([0.5, 0.5])).check_data(SineData())


@pytest.mark.parametrize("corpus", ["tiny_shakespeare", "wikitext2"])
def test_downloadable_corpora_fail_offline_in_one_sentence(corpus, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    with pytest.raises(UserError, match="could not be downloaded") as error:
        load_corpus(corpus, str(tmp_path))
    assert str(tmp_path) in str(error.value) and "\n" not in str(error.value)
    assert not list(tmp_path.rglob("*.part"))


def test_lstm_on_python_chars_end_to_end(cli):
    cli("model=lstm", "data=python_chars", "trainer=debug", "model.hidden_size=32", "task.sample_length=20",
        "data.batch_size=8")
    (run_dir,) = run_dirs(cli.root, "lstm_python_chars", debug=True)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["monitor"] == "val/perplexity" and results["test"]["test/perplexity"] > 1
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"tensors": 0}).Reload()
    assert "val/sample/text_summary" in events.Tags()["tensors"]
    assert {"val/perplexity", "val/acc", "val/loss"} <= set(events.Tags()["scalars"])


# --- learning: each model beats the unigram baseline of the validation stream --------------------------

def unigram_perplexity(data: LanguageModelData) -> float:
    """Perplexity of the validation stream under train-set token frequencies (add-one smoothed)."""
    counts = torch.bincount(data.streams["train"], minlength=data.vocab_size).double() + 1
    log_probabilities = (counts / counts.sum()).log()
    return math.exp(-log_probabilities[data.streams["val"][1:]].mean().item())


@pytest.fixture(scope="module")
def unigram() -> float:
    data = instantiate(api.compose(["data=python_chars"]).data)
    data.setup()
    return unigram_perplexity(data)


@pytest.mark.slow
@pytest.mark.parametrize("experiment, overrides, margin", [
    # small, few-epoch versions of the experiment recipes: each runs in about a CPU minute
    ("lstm_python", ["model.hidden_size=128", "trainer.max_epochs=3", "trainer.limit_train_batches=150"], 0.6),
    ("gru_python", ["model.hidden_size=128", "trainer.max_epochs=2", "trainer.limit_train_batches=150"], 0.8),
    ("rnn_python", ["model.hidden_size=128", "trainer.max_epochs=2", "trainer.limit_train_batches=150"], 0.8),
    ("tcn_python", ["model.channels=[64,64,64,64]", "trainer.max_epochs=2", "trainer.limit_train_batches=150"], 0.8),
    # the decoder-only Transformer: 0.42x the unigram perplexity on seeds 42 and 0 (9.45, 9.35 against 22.4)
    ("transformer_lm_python", ["trainer.max_epochs=2", "trainer.limit_train_batches=150"], 0.6),
])
def test_language_model_beats_the_unigram_baseline(cli, monkeypatch, unigram, experiment, overrides, margin):
    # small models are latency bound: one thread avoids OpenMP spin contention on a shared 2-core machine
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cli(f"experiment={experiment}", *overrides, "task.sample_length=50", "logger=csv")
    (run_dir,) = run_dirs(cli.root, f"{experiment.rsplit('_', 1)[0]}_python_chars")  # model=<name>, data=python_chars
    best = json.loads((run_dir / "results.json").read_text())["best"]
    assert best < margin * unigram, (best, unigram)
