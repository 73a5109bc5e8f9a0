"""data=arrays: the shape of x says what an example is; targets, splits and standardisation; given numbers reused."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dltrain.data.own.arrays import ArrayData
from dltrain.errors import UserError

from .files import digits_npz, digits_x, digits_y


@pytest.mark.parametrize("shape, facts", [
    ("features", {"input_kind": "features", "num_features": 64}),
    ("signals", {"input_kind": "signals", "in_channels": 8, "seq_len": 8}),
    ("images", {"input_kind": "images", "in_channels": 1, "image_size": 8}),
])
def test_the_shape_of_x_says_what_an_example_is(tmp_path, shape, facts):
    data = ArrayData(str(digits_npz(tmp_path, shape)), seed=0)
    data.setup()
    found = data.facts()
    assert {key: found[key] for key in facts} == facts
    assert found["task"] == "classification" and found["num_classes"] == 10
    assert found["class_names"] == [str(d) for d in range(10)]
    sizes = [len(d) for d in (data.train_dataset, data.val_dataset, data.test_dataset)]
    assert sum(sizes) == 1797 and sizes[2] == 270  # 15% held out for test, 15% for validation
    x, y = data.train_dataset.tensors
    assert x.shape[1:] == data.sample_shape() and y.dtype == torch.int64
    channel_means = x.mean(dim=[d for d in range(x.dim()) if d != 1])
    assert channel_means.abs().max() < 1e-4  # standardised with the training split's own statistics...
    val_means = data.val_dataset.tensors[0].mean(dim=[d for d in range(x.dim()) if d != 1])
    assert val_means.abs().max() > 1e-3  # ... not the validation split's
    assert len(found["feature_mean"]) == x.shape[1]


def test_grey_images_of_shape_n_h_w_need_input_kind(tmp_path):
    path = tmp_path / "grey.npz"
    np.savez(path, x=digits_x("images")[:, 0], y=digits_y())
    data = ArrayData(str(path), input_kind="images", seed=0)
    data.setup()
    assert data.facts()["in_channels"] == 1 and data.train_dataset.tensors[0].shape[1:] == (1, 8, 8)
    read_as_signals = ArrayData(str(path), seed=0)
    read_as_signals.setup()
    assert read_as_signals.facts()["input_kind"] == "signals"


def test_npy_pair_and_folder_of_npy_files_read_the_same_examples(tmp_path):
    x, y = digits_x("features"), digits_y()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    pair = ArrayData(str(tmp_path / "x.npy"), targets=str(tmp_path / "y.npy"), seed=1)
    folder = ArrayData(str(tmp_path), seed=1)
    for data in (pair, folder):
        data.setup()
    for split in ("train_dataset", "val_dataset", "test_dataset"):
        torch.testing.assert_close(getattr(pair, split).tensors[0], getattr(folder, split).tensors[0])


def test_validation_and_test_arrays_of_the_file_are_used_as_given(tmp_path):
    x, y = digits_x("features"), digits_y()
    path = tmp_path / "splits.npz"
    np.savez(path, x=x[:1000], y=y[:1000], x_val=x[1000:1300], y_val=y[1000:1300], x_test=x[1300:], y_test=y[1300:])
    data = ArrayData(str(path), seed=0)
    data.setup()
    assert [len(d) for d in (data.train_dataset, data.val_dataset, data.test_dataset)] == [1000, 300, 497]
    assert data.test_dataset.tensors[1].tolist() == y[1300:].tolist()


def test_real_valued_targets_are_regression_and_standardised(tmp_path):
    path = tmp_path / "regression.npz"
    x = digits_x("features")
    np.savez(path, x=x, y=x.mean(axis=1) * 3.0 + 10.0)
    data = ArrayData(str(path), seed=0)
    data.setup()
    facts = data.facts()
    assert facts["task"] == "regression" and data.kind == "regression" and "num_classes" not in facts
    target = data.train_dataset.tensors[1]
    assert abs(float(target.mean())) < 1e-4 and abs(float(target.std()) - 1) < 1e-3
    assert facts["target_mean"] == pytest.approx(float((x.mean(axis=1) * 3 + 10).mean()), rel=0.05)
    as_classes = ArrayData(str(path), task="classification", seed=0)
    with pytest.raises(UserError, match="labels that are not integers"):
        as_classes.setup()


def test_a_module_given_the_stored_numbers_uses_them_instead_of_fitting(tmp_path):
    path = digits_npz(tmp_path, "features")
    first = ArrayData(str(path), seed=0)
    first.setup()
    facts = first.facts()
    again = ArrayData(str(path), seed=0, **{k: v for k, v in facts.items() if k not in ("path", "input_kind")})
    again.setup()
    torch.testing.assert_close(again.test_dataset.tensors[0], first.test_dataset.tensors[0])
    shifted = ArrayData(str(path), seed=0, feature_mean=[0.0] * 64, feature_std=[1.0] * 64)
    shifted.setup()  # given numbers win: here no standardisation at all
    raw = torch.from_numpy(digits_x("features")).float()
    assert shifted.train_dataset.tensors[0].max() == raw.max()


def test_two_class_labels_suit_the_binary_task(tmp_path):
    path = tmp_path / "binary.npz"
    np.savez(path, x=digits_x("features"), y=(digits_y() >= 5).astype(np.int64))
    data = ArrayData(str(path), seed=0)
    data.setup()
    assert data.kind == "binary" and data.facts()["num_classes"] == 2
