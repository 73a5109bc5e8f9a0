"""BERT: 80/10/10 masking, heads and weight tying, the story corpora, fine-tuning from a checkpoint."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from dltrain import checkpoint
from dltrain.checkpoint.fine_tune import load_pretrained_part
from dltrain.data.text.classification import StorySentimentData
from dltrain.data.text.sentence_pairs import CLS_ID, MASK_ID, NUM_SPECIALS, SEP_ID, NSPCorpusData
from dltrain.data.text.tokenizer import PAD_ID
from dltrain.errors import UserError
from dltrain.models.sequence.bert import BERT
from dltrain.models.sequence.classifiers import BERTClassifier, LSTMClassifier
from dltrain.tasks.bert_pretraining import IGNORE, mask_tokens


def tiny_bert() -> BERT:
    torch.manual_seed(0)
    return BERT(vocab_size=40, d_model=16, num_heads=2, d_ff=32, num_layers=2, dropout=0.0, max_len=32)


def test_masking_chooses_15_percent_and_replaces_80_10_10():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(NUM_SPECIALS, 1000, (400, 100), generator=generator)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, :10] = False  # e.g. [CLS] and padding
    inputs, labels = mask_tokens(ids, maskable, 1000, 0.15, generator)
    chosen = labels != IGNORE
    assert not chosen[:, :10].any() and (inputs[:, :10] == ids[:, :10]).all()
    assert abs(chosen[:, 10:].float().mean().item() - 0.15) < 0.005
    assert (labels[chosen] == ids[chosen]).all() and (inputs[~chosen] == ids[~chosen]).all()
    masked = (inputs[chosen] == MASK_ID).float().mean().item()
    unchanged = (inputs[chosen] == ids[chosen]).float().mean().item()
    random_word = 1 - masked - unchanged
    assert abs(masked - 0.8) < 0.01 and abs(random_word - 0.1) < 0.01 and abs(unchanged - 0.1) < 0.01
    assert (inputs[chosen & (inputs != MASK_ID)] >= NUM_SPECIALS).all()  # random replacements are words


def test_bert_heads_shapes_tied_embeddings_and_padding():
    model = tiny_bert().eval()
    ids = torch.randint(NUM_SPECIALS, 40, (2, 9))
    ids[1, 6:] = PAD_ID
    segments = torch.zeros_like(ids)
    segments[:, 5:] = 1
    mlm, nsp = model(ids, segments, ids != PAD_ID)
    assert mlm.shape == (2, 9, 40) and nsp.shape == (2, 2)
    assert model.mlm.decoder.weight is model.encoder.embeddings.token.weight
    changed = ids.clone()
    changed[1, 6:] = 7  # garbage behind the padding mask
    torch.testing.assert_close(model(changed, segments, ids != PAD_ID)[0][1, :6], mlm[1, :6])


def test_nsp_corpus_pairs_are_framed_and_half_of_them_are_true_next_sentences():
    data = NSPCorpusData(num_stories=200, seed=0)
    data.setup()
    batch = next(iter(data.train_dataloader()))
    ids, segments = batch["ids"][0], batch["segments"][0]
    real = ids[batch["mask"][0]]
    assert real[0] == CLS_ID and real[-1] == SEP_ID and (real == SEP_ID).sum() == 2
    first_sep = int((real == SEP_ID).nonzero()[0])
    assert (segments[: first_sep + 1] == 0).all() and (segments[first_sep + 1: len(real)] == 1).all()
    labels = torch.tensor([label for _, _, label in data.train_dataset.examples]).float()
    assert abs(labels.mean().item() - 0.5) < 0.05
    assert len(data.tokenizer.vocab) <= data.vocab_size


def test_story_sentiment_evaluates_on_adjectives_never_seen_in_training():
    data = StorySentimentData(seed=0)
    data.setup()

    def words(dataset) -> set[int]:
        return {i for ids, _ in dataset.examples for i in ids}

    adjectives = {data.tokenizer.vocab[w] for w in ("bright", "perfect", "superb", "horrible", "dreadful")}
    assert not adjectives & words(data.train_dataset) and adjectives & words(data.val_dataset)
    ids, labels = next(iter(data.train_dataloader()))
    assert sum(label for _, label in data.train_dataset.examples) == len(data.train_dataset) / 2  # balanced
    assert (ids[:, 0] == CLS_ID).all()
    assert LSTMClassifier(data.vocab_size, 2, 8, 8)(ids).shape == (len(ids), 2)


def test_bert_classifier_starts_from_the_pretrained_encoder(tmp_path: Path):
    bert = tiny_bert()
    path = tmp_path / "bert.ckpt"
    checkpoint.save({"model": bert.state_dict()}, path)
    options = dict(vocab_size=40, num_classes=3, d_model=16, num_heads=2, d_ff=32, num_layers=2, max_len=32)
    classifier = load_pretrained_part(BERTClassifier(**options), path)
    for name, value in classifier.encoder.state_dict().items():
        torch.testing.assert_close(value, bert.encoder.state_dict()[name])
    assert classifier(torch.randint(NUM_SPECIALS, 40, (2, 5))).shape == (2, 3)
    with pytest.raises(UserError, match="does not fit"):
        load_pretrained_part(BERTClassifier(**{**options, "d_model": 32, "num_heads": 2}), path)
    checkpoint.save({"model": torch.nn.Linear(2, 2).state_dict()}, tmp_path / "other.ckpt")
    with pytest.raises(UserError, match="no BERT encoder"):
        load_pretrained_part(BERTClassifier(**options), tmp_path / "other.ckpt")


@pytest.mark.slow
def test_pretraining_lowers_the_masked_lm_loss_and_learns_next_sentence_prediction(cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: threads cost more than they give on 2 shared cores
    cli("experiment=bert_nsp_corpus", "logger=csv", "trainer.log_histograms=false", "trainer.enable_progress_bar=false")
    (run,) = (cli.root / "outputs" / "bert_nsp_corpus").iterdir()
    test = json.loads((run / "results.json").read_text())["test"]
    uniform = math.log(101)  # a model that knows nothing: every word of the story lexicon equally likely
    assert test["test/mlm_loss"] < uniform - 2.5 and test["test/mlm_acc"] > 0.5, test
    assert test["test/nsp_acc"] > 0.7, test  # chance is 0.5


@pytest.mark.parametrize("name", ["lstm_classifier", "bert_classifier"])
def test_text_classifier_configs_take_one_training_step(name: str) -> None:
    from dltrain import api
    from dltrain.launch import build

    cfg = api.compose([f"model={name}", "data=story_sentiment"])
    model = build.build_model(cfg)
    ids = torch.randint(4, cfg.data.vocab_size, (3, 12))
    logits = model(ids)
    assert logits.shape == (3, cfg.data.num_classes)
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
