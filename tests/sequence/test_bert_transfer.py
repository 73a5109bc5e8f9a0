"""BERT transfer (issue 5): pre-training on review pairs lowers the MLM loss, and the fine-tuned encoder
classifies story sentiment on adjectives that no training label shows, where the same encoder trained from
scratch (same seed, same recipe, same steps) can only guess."""
from __future__ import annotations

import json
import math

import pytest

QUIET = ("logger=csv", "trainer.log_histograms=false", "trainer.enable_progress_bar=false")


def test_reviews_use_the_story_vocabulary_and_keep_one_sentiment():
    import random

    from dltrain.data.text.review_pairs import ReviewPairsData, generate_review
    from dltrain.data.text.sentence_pairs import NEGATIVE, POSITIVE
    from dltrain.data.text.tokenizer import UNK_ID

    data = ReviewPairsData(num_stories=100, seed=0)
    data.setup()
    assert all(UNK_ID not in ids for ids, _, _ in data.train_dataset.examples)  # the story lexicon covers reviews
    for seed in range(50):
        words = set(" ".join(generate_review(random.Random(seed))).split())
        assert len(words & set(POSITIVE)) == 0 or len(words & set(NEGATIVE)) == 0  # one sentiment a review
        assert len(words & set(POSITIVE + NEGATIVE)) >= 3  # several adjectives to predict each other from


def results(cli, task_name: str) -> dict:
    (run,) = (cli.root / "outputs" / task_name).iterdir()
    return json.loads((run / "results.json").read_text())["test"]


@pytest.mark.slow
def test_pretrained_encoder_beats_the_same_encoder_from_scratch_on_unseen_adjectives(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: threads cost more than they give on 2 shared cores
    cli("experiment=bert_review_pairs", "task_name=pretrain", *QUIET)
    pretrain = results(cli, "pretrain")
    assert pretrain["test/mlm_loss"] < math.log(101) - 2.5, pretrain  # uniform over the story lexicon: 4.6
    (checkpoint,) = (cli.root / "outputs" / "pretrain").glob("*/checkpoints/best.ckpt")

    # story_sentiment's default split: val / test adjectives never occur in the 200 training labels
    cli("experiment=bert_classifier_story_sentiment", f"model.init_from={checkpoint}", "task_name=finetuned", *QUIET)
    cli("experiment=bert_classifier_story_sentiment", "model.init_from=null", "task_name=scratch", *QUIET)
    finetuned, scratch = results(cli, "finetuned")["test/acc"], results(cli, "scratch")["test/acc"]
    assert finetuned > 0.8 and finetuned > scratch + 0.2, (finetuned, scratch)  # chance is 0.5
