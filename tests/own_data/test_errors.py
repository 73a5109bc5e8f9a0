"""Mistakes in your own data end in one sentence naming the file and the fix, exit status 2, nothing written.

Each mistake is made in this process (``api.train`` raises the ``UserError`` the command line prints); the
command line's handling of any ``UserError`` (the ``dltrain: error:`` line, exit 2, no traceback) is
checked on three of them, one per stage: the command line, reading the data, and its files' contents.
"""
from __future__ import annotations

import numpy as np
import pytest
from test_errors import assert_clean_error

from dltrain import api
from dltrain.errors import UserError

from .files import digits_image_folder, digits_npz, digits_x, digits_y


def fails(tmp_path, *overrides: str) -> str:
    """The one-sentence message of a run on these overrides; the run wrote nothing."""
    run_dir = tmp_path / "run"
    with pytest.raises(UserError) as caught:
        api.train([*overrides, "trainer.max_epochs=1", "logger=none"], run_dir=run_dir)
    message = str(caught.value)
    assert "\n" not in message and message.endswith((".", ")")), message
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "results.json").exists()
    return message


def npz(tmp_path, name: str = "bad.npz", **arrays) -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def test_x_and_y_of_different_lengths(tmp_path):
    path = npz(tmp_path, x=digits_x("features"), y=digits_y()[:-1])
    message = fails(tmp_path, "data=arrays", f"data.path={path}")
    assert f"{path} (x, y) has 1797 inputs but 1796 targets; give one target per example" in message


def test_x_of_five_axes(tmp_path):
    path = npz(tmp_path, x=np.zeros((10, 1, 2, 3, 4)), y=np.arange(10) % 2)
    assert "has shape (10, 1, 2, 3, 4); dltrain reads (N, F) features" in fails(tmp_path, "data=arrays",
                                                                                   f"data.path={path}")


def test_a_missing_array_key_and_a_missing_column(tmp_path):
    path = npz(tmp_path, inputs=digits_x("features"), labels=digits_y())
    assert f"{path} has no arrays named x and y (it holds inputs, labels); save inputs as x" in fails(
        tmp_path, "data=arrays", f"data.path={path}")
    path = npz(tmp_path, "val.npz", x=digits_x("features"), y=digits_y(), x_val=digits_x("features")[:5])
    assert "has an array x_val but no y_val" in fails(tmp_path, "data=arrays", f"data.path={path}")
    table = tmp_path / "table.csv"
    table.write_text("a,b,label\n1,2,x\n3,4,y\n")
    assert f"{table} has no column lable. Did you mean label?" in fails(tmp_path, "data=csv", f"data.path={table}",
                                                                       "data.target=lable")


def test_labels_that_are_not_integers_for_classification(tmp_path):
    path = npz(tmp_path, x=digits_x("features"), y=digits_y() + 0.5)
    message = fails(tmp_path, "data=arrays", f"data.path={path}", "data.task=classification")
    assert f"{path} (x, y) holds labels that are not integers (e.g. 0.5) for classification" in message


def test_a_corrupt_image(tmp_path):
    root = digits_image_folder(tmp_path / "digits", per_class=3)
    good = sorted((root / "4").glob("*.png"))[0]
    (root / "4" / "truncated.png").write_bytes(good.read_bytes()[:30])
    message = fails(tmp_path, "data=imagefolder", f"data.root={root}")
    assert f"{root / '4' / 'truncated.png'} cannot be read as an image" in message and "remove it" in message


def test_a_dataset_of_one_class(tmp_path):
    path = npz(tmp_path, x=digits_x("features"), y=np.zeros(1797, dtype=np.int64))
    assert f"{path} (x, y) holds one class only (0): a classifier needs examples of at least two" in fails(
        tmp_path, "data=arrays", f"data.path={path}")


def test_an_empty_split(tmp_path):
    path = npz(tmp_path, x=digits_x("features")[:4], y=np.array([0, 1, 0, 1]))
    assert "The val split of" in fails(tmp_path, "data=arrays", f"data.path={path}", "data.test_fraction=0.5",
                                       "data.val_fraction=0.1")
    empty_val = npz(tmp_path, "empty_val.npz", x=digits_x("features"), y=digits_y(), x_val=np.zeros((0, 64)),
                    y_val=np.zeros(0, dtype=np.int64))
    assert "The val split of" in fails(tmp_path, "data=arrays", f"data.path={empty_val}")


def test_a_model_that_needs_a_fact_the_data_did_not_find(tmp_path):
    path = npz(tmp_path, x=digits_x("features"), y=digits_x("features").mean(axis=1))  # real values: regression
    message = fails(tmp_path, "data=arrays", f"data.path={path}", "model=mlp")
    assert "the model (mlp) needs data.num_classes, which the data (ArrayData) did not find" in message
    assert "its target makes it a regression set" in message


# --- through the command line: exit 2, no traceback, nothing written ------------------------------------------

def test_own_data_without_its_path_is_stopped_before_the_run(cli):
    assert_clean_error(cli("data=arrays", ok=False), "data=arrays needs data.path", "add data.path=VALUE")
    assert not (cli.root / "outputs").exists()


def test_data_errors_reach_the_command_line_as_one_sentence(cli, tmp_path):
    path = npz(tmp_path, x=digits_x("features"), y=digits_y()[:-1])
    assert_clean_error(cli("data=arrays", f"data.path={path}", ok=False), "has 1797 inputs but 1796 targets")
    assert not list((cli.root / "outputs").rglob("*.ckpt"))


def test_file_contents_errors_reach_the_command_line_as_one_sentence(cli, tmp_path):
    path = digits_npz(tmp_path, "features")
    assert_clean_error(cli("data=arrays", f"data.path={path}", "data.input_kind=signals", ok=False),
                       "which is not signals (data.input_kind=signals)")
    assert not list((cli.root / "outputs").rglob("*.ckpt"))
