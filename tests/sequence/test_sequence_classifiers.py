"""The sequence classifiers take token ids (text) and real-valued signals (N, C, L); their input layer follows the
data's facts. Slow: each learns the digits read row by row (8 steps of 8 values) well above chance (0.1)."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from dltrain import api
from dltrain.checkpoint.legacy import moved_target
from dltrain.models.sequence.classifiers import LSTMClassifier

SEQUENCE_CLASSIFIERS = ["lstm_classifier", "gru_classifier", "cnn1d", "tcn_classifier"]


def build(name: str, *data: str) -> torch.nn.Module:
    return instantiate(api.compose([f"model={name}", *data]).model)


@pytest.mark.parametrize("name", SEQUENCE_CLASSIFIERS)
def test_takes_token_ids_of_text_data(name):
    cfg = api.compose([f"model={name}", "data=story_sentiment"])
    assert cfg.task._target_.endswith("TextClassificationTask")
    model = instantiate(cfg.model)
    ids = torch.randint(4, cfg.data.vocab_size, (3, 12))
    logits = model(ids)
    assert logits.shape == (3, 2)
    logits.sum().backward()


@pytest.mark.parametrize("name", SEQUENCE_CLASSIFIERS)
def test_takes_real_valued_signals(name):
    model = build(name, "data=arrays", "data.path=x.npz", "data.num_classes=5", "data.in_channels=3",
                  "data.seq_len=20")
    assert getattr(model, "embedding", None) is None  # each step's 3 values are read as they are
    logits = model(torch.randn(4, 3, 20))
    assert logits.shape == (4, 5)
    logits.sum().backward()


@pytest.mark.parametrize("name", ["lstm_classifier", "gru_classifier", "tcn_classifier"])
def test_padding_after_a_text_does_not_change_its_class_scores(name):
    model = build(name, "data=story_sentiment").eval()
    ids = torch.randint(4, 100, (2, 7))
    padded = torch.cat([ids, torch.zeros(2, 5, dtype=torch.long)], dim=1)  # pad_id 0
    torch.testing.assert_close(model(padded), model(ids))


def test_the_lstm_classifier_keeps_its_weight_names_and_old_checkpoints_find_it():
    names = set(LSTMClassifier(vocab_size=50, num_classes=2).state_dict())
    assert {"embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0_reverse", "head.weight"} <= names
    old = "dltrain.models.sequence.text_classifier.LSTMClassifier"  # the module's name before signals
    assert moved_target(old) == "dltrain.models.sequence.classifiers.LSTMClassifier"


@pytest.mark.slow
@pytest.mark.parametrize("name, minimum", [("lstm_classifier", 0.9), ("gru_classifier", 0.9), ("cnn1d", 0.9),
                                           ("tcn_classifier", 0.9)])
def test_learns_digits_read_row_by_row_well_above_chance(name, minimum, tmp_path):
    from own_data.files import digits_npz

    torch.set_num_threads(1)  # small models: one thread is fastest on the shared 2-core machine
    results = api.train(["data=arrays", f"data.path={digits_npz(tmp_path, 'signals')}", f"model={name}",
                         "trainer.max_epochs=12", "optimizer.lr=0.003", "logger=csv", "trainer.log_histograms=false",
                         "trainer.enable_progress_bar=false"], run_dir=tmp_path / "run")
    print(f"{name}: test acc {results['test']['test/acc']:.3f}, best val acc {results['best']:.3f}")
    assert results["test"]["test/acc"] > minimum, results["test"]
