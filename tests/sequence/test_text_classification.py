"""Sequence classification: the bidirectional-LSTM baseline learns story sentiment from 200 labels."""
from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_lstm_baseline_classifies_story_sentiment_far_above_chance(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a small model: threads cost more than they give on 2 shared cores
    cli("experiment=lstm_classifier_story_sentiment", "logger=csv", "trainer.log_histograms=false",
        "trainer.enable_progress_bar=false")
    (run,) = (cli.root / "outputs" / "lstm_classifier_story_sentiment").iterdir()
    test = json.loads((run / "results.json").read_text())["test"]
    assert test["test/acc"] > 0.9, test  # two balanced classes: chance is 0.5
