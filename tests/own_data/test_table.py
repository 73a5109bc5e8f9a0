"""data=csv: columns, one-hot categories, missing values, the target's type, and what it refuses."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dltrain.data.own.table import TableData
from dltrain.errors import UserError

from .files import breast_cancer_csv

PETS = """name,legs,colour,weight,kind
a,4,brown,30.5,dog
b,4,black,4.2,cat
c,2,white,0.3,bird
d,4,black,25.0,dog
e,4,white,3.9,cat
f,2,brown,0.4,bird
"""


def table(tmp_path, text: str = PETS, name: str = "pets.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_breast_cancer_table_reads_as_30_standardised_features_and_two_named_classes(tmp_path):
    data = TableData(str(breast_cancer_csv(tmp_path / "bc.csv")), target="diagnosis", seed=0)
    data.setup()
    facts = data.facts()
    assert facts["num_features"] == 30 and facts["class_names"] == ["benign", "malignant"] and data.kind == "binary"
    x, y = data.train_dataset.tensors
    assert torch.allclose(x.mean(0), torch.zeros(30), atol=1e-4)
    labels = torch.cat([d.tensors[1] for d in (data.train_dataset, data.val_dataset, data.test_dataset)])
    assert int(labels.sum()) == 212  # 212 malignant of 569, in every split in proportion (stratified)
    assert abs(float(data.test_dataset.tensors[1].float().mean()) - 212 / 569) < 0.03


def test_text_columns_become_one_hot_and_features_can_be_chosen(tmp_path):
    data = TableData(str(table(tmp_path)), target="kind", features=["legs", "colour"], standardize=False,
                     val_fraction=0.2, test_fraction=0.2, seed=0)
    parts = data.read()
    assert data.categories == {"colour": ["black", "brown", "white"]}
    x = parts["train"].x
    assert x.shape == (6, 4)  # legs + three colour columns
    np.testing.assert_array_equal(x[0], [4, 0, 1, 0])  # a: 4 legs, brown
    assert parts["train"].y.tolist() == ["dog", "cat", "bird", "dog", "cat", "bird"]


def test_a_missing_value_is_named_by_file_line_and_column_or_dropped(tmp_path):
    path = table(tmp_path, PETS.replace("b,4,black,4.2,cat", "b,4,black,,cat"))
    with pytest.raises(UserError, match=r"pets.csv, line 3 has no value for column weight .*data.missing=drop"):
        TableData(str(path), target="kind").read()
    parts = TableData(str(path), target="kind", missing="drop").read()
    assert len(parts["train"].y) == 5


def test_numeric_targets_with_fractions_are_regression_integers_are_classes(tmp_path):
    regression = TableData(str(table(tmp_path)), target="weight", features=["legs"], val_fraction=0.2,
                           test_fraction=0.2, seed=0)
    regression.setup()
    assert regression.facts()["task"] == "regression"
    classes = TableData(str(table(tmp_path)), target="legs", features=["weight"], val_fraction=0.3,
                        test_fraction=0.3, seed=0)
    classes.setup()
    assert classes.facts()["class_names"] == ["2", "4"]


def test_prediction_rows_are_encoded_with_the_stored_categories(tmp_path):
    data = TableData(str(table(tmp_path)), target="kind", features=["legs", "colour"], val_fraction=0.2,
                     test_fraction=0.2, seed=0)
    data.setup()
    stored = data.facts()
    again = TableData(str(table(tmp_path)), target="kind", **{k: v for k, v in stored.items() if k != "path"})
    new = table(tmp_path, "colour,legs\nwhite,2\ngreen,4\n", "new.csv")  # columns in another order, a new colour
    samples = again.prediction_samples([new])
    assert [s["row"] for s in samples.sources] == [0, 1]
    scale = again.feature_scale()
    raw = samples.model_inputs * scale.std + scale.mean  # undo the standardisation
    torch.testing.assert_close(raw, torch.tensor([[2.0, 0, 0, 1], [4.0, 0, 0, 0]]), atol=1e-5, rtol=0)


def test_parquet_and_unknown_columns_are_refused_in_one_sentence(tmp_path):
    with pytest.raises(UserError, match="Parquet .* save it as CSV"):
        TableData(str(tmp_path / "pets.parquet"), target="kind").read()
    with pytest.raises(UserError, match="has no column knd. Did you mean kind?"):
        TableData(str(table(tmp_path)), target="knd").read()
    with pytest.raises(UserError, match="needs the column to predict: add data.target=COLUMN"):
        TableData(str(table(tmp_path))).read()
    ragged = table(tmp_path, PETS + "g,4,black\n", "ragged.csv")
    with pytest.raises(UserError, match="ragged.csv, line 8 has 3 values but the header names 5 columns"):
        TableData(str(ragged), target="kind").read()
