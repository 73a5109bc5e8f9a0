"""What a data module finds is written into the config before the model is built; preflight lets null facts
through and still catches pairs of two families; flattening models take features, signals and images."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from dltrain import api
from dltrain.errors import UserError
from dltrain.launch.build import build_data
from dltrain.launch.config import CONFIG_DIR
from dltrain.launch.data_facts import state_data_facts
from dltrain.launch.preflight import check_command_line
from dltrain.models.classical.linear import LinearRegression, LogisticRegression, SoftmaxRegression
from dltrain.models.classification.mlp import MLP
from dltrain.models.layers import flat_input_size

from .files import digits_npz


class FoundFacts:
    def facts(self):
        return {"num_classes": 3, "class_names": ["a", "b", "c"], "in_channels": torch.tensor(2), "seq_len": 5}


def test_found_facts_land_in_the_config_and_the_model_config_reads_them():
    cfg = api.compose(["data=arrays", "data.path=x.npz", "model=cnn1d"])
    state_data_facts(cfg, FoundFacts())
    assert cfg.data.class_names == ["a", "b", "c"] and cfg.data.in_channels == 2  # a tensor stored as a number
    model = OmegaConf.to_container(cfg.model, resolve=True)
    assert (model["num_classes"], model["in_channels"], model["vocab_size"]) == (3, 2, None)
    assert OmegaConf.to_container(cfg.task, resolve=True)["class_names"] == ["a", "b", "c"]
    assert "in_channels: 2" in OmegaConf.to_yaml(cfg, resolve=True)  # what the checkpoint stores


def test_a_fact_the_model_reads_and_nobody_found_is_one_sentence():
    cfg = api.compose(["data=arrays", "data.path=x.npz", "model=lenet"])  # lenet reads ${data.image_size}
    with pytest.raises(UserError, match=r"needs data.image_size, which the data \(ArrayData\) did not find"):
        state_data_facts(cfg, FoundFacts())


def test_preflight_lets_null_facts_through_and_still_names_a_pair_of_two_families():
    check_command_line(["data=imagefolder", "data.root=photos", "model=resnet18"], CONFIG_DIR)
    check_command_line(["data=arrays", "data.path=x.npz", "model=lstm_classifier"], CONFIG_DIR)
    with pytest.raises(UserError, match="model=lstm needs data.vocab_size, which data=digits does not state"):
        check_command_line(["model=lstm"], CONFIG_DIR)


@pytest.mark.parametrize("facts, example", [
    ({"num_features": 30}, (30,)),                     # a table
    ({"in_channels": 8, "seq_len": 8}, (8, 8)),        # signals
    ({"in_channels": 3, "image_size": 4}, (3, 4, 4)),  # images
    ({"in_channels": 1, "image_size": [2, 5]}, (1, 2, 5)),
])
def test_flattening_models_take_features_signals_and_images(facts, example):
    for model in (MLP(num_classes=2, **{"in_channels": None, "image_size": None, **facts}),
                  SoftmaxRegression(2, **{"in_channels": None, "image_size": None, **facts}),
                  LogisticRegression(**facts), LinearRegression(**facts)):
        assert model(torch.randn(3, *example)).shape[0] == 3


@pytest.mark.parametrize("name", ["mlp", "softmax_regression", "logistic_regression", "linear_regression"])
def test_flattening_model_configs_read_whichever_size_facts_the_data_states(name):
    cfg = api.compose([f"model={name}", "data=arrays", "data.path=x.npz", "data.num_classes=2", "data.in_channels=8",
                       "data.seq_len=8"])
    assert instantiate(cfg.model)(torch.randn(3, 8, 8)).shape[0] == 3


def test_a_flattening_model_on_data_without_a_size_says_so():
    with pytest.raises(UserError, match="needs the size of one example"):
        flat_input_size()


def test_eval_rebuilds_the_data_from_the_stored_facts_without_fitting_again(tmp_path):
    path = digits_npz(tmp_path, "signals")
    cfg = api.compose(["data=arrays", f"data.path={path}", "model=cnn1d"])
    first = build_data(cfg)
    stored = OmegaConf.create(OmegaConf.to_yaml(cfg, resolve=True))  # as a checkpoint keeps it
    assert stored.data.seq_len == 8 and stored.model.in_channels == 8
    again = build_data(stored)
    torch.testing.assert_close(again.test_dataset.tensors[0], first.test_dataset.tensors[0])
