"""`dltrain mode=predict` for generators: samples (and a grid, one row per class when conditional), translations.

Checkpoints are trained on two batches with the Python API; predict runs through the CLI as a user types it,
once per test: a further prediction from the same checkpoint runs in this process (``predict_here``), as each
CLI start-up costs seconds of imports.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_dltrain
from omegaconf import OmegaConf
from PIL import Image
from sklearn.datasets import load_digits

from dltrain import api
from dltrain import checkpoint as checkpoints
from dltrain.errors import UserError
from dltrain.predict.run import predict as write_predictions

TINY = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "test=false",
        "logger=none", "trainer.enable_progress_bar=false"]
QUICK_SCORER = "task.classifier_steps=5"  # the GANs' sample-quality classifier: its score is not tested here


def train(root: Path, *overrides: str) -> Path:
    run_dir = root / "trained"
    api.train([*overrides, *TINY], run_dir=run_dir)
    return run_dir / "checkpoints" / "last.ckpt"


def predict(root: Path, checkpoint: Path, *args: str, ok: bool = True):
    result = run_dltrain("mode=predict", f"ckpt_path={checkpoint}", f"predict.output_dir={root / 'out'}", *args,
                         cwd=root)
    if ok:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def predict_here(checkpoint: Path, output_dir: Path, *options: str) -> Path:
    """What ``predict`` runs after its start-up: the checkpoint's own config, the ``predict.*`` options given."""
    state = checkpoints.load(checkpoint)
    cfg = OmegaConf.create(state["config"])
    cfg.ckpt_path = str(checkpoint)
    return write_predictions(cfg, api.compose([f"predict.output_dir={output_dir}", *options]).predict, output_dir, state)


def written(root: Path, folder: str = "out") -> list[dict]:
    return json.loads((root / folder / "predictions.json").read_text())["predictions"]


def test_dcgan_writes_num_samples_pngs_and_a_grid(tmp_path):
    checkpoint = train(tmp_path, "model=dcgan", "data.image_size=16", QUICK_SCORER)
    predict(tmp_path, checkpoint, "predict.num_samples=12")
    records = written(tmp_path)
    assert [r["index"] for r in records] == list(range(12))
    for record in records:
        sample = Image.open(tmp_path / "out" / record["outputs"]["image"])
        assert sample.size == (16, 16) and sample.mode == "L"  # the model's resolution, grey like the digits
    grid = Image.open(tmp_path / "out" / "samples_grid.png")
    assert grid.size == (2 + 8 * 34, 2 + 2 * 34)  # 8 per row, tiles enlarged to 32 px, 2 px padding
    # the same seed draws the same samples: predictions can be reproduced
    predict_here(checkpoint, tmp_path / "again", "predict.num_samples=12")
    assert (tmp_path / "again" / "sample_0003.png").read_bytes() == (tmp_path / "out" / "sample_0003.png").read_bytes()
    with pytest.raises(UserError, match="leave predict.inputs out"):  # the CLI's exit 2: tests/test_errors.py
        predict_here(checkpoint, tmp_path / "other", f"predict.inputs={tmp_path / 'out'}")


def test_conditional_gan_grid_has_one_row_per_class(tmp_path):
    checkpoint = train(tmp_path, "model=cgan_biggan", "data.image_size=8", QUICK_SCORER)
    predict(tmp_path, checkpoint, "predict.num_samples=25")  # rounded up to 3 per class
    records = written(tmp_path)
    assert [r["class"] for r in records] == [c for c in range(10) for _ in range(3)]
    tile = 2 + 32  # 8 px samples enlarged to 32 px, 2 px padding
    assert Image.open(tmp_path / "out" / "samples_grid.png").size == (2 + 3 * tile, 2 + 10 * tile)


def test_pix2pix_translates_each_input_file(tmp_path):
    checkpoint = train(tmp_path, "model=pix2pix", "data=digits_edges2digits")
    inputs = tmp_path / "edges"
    inputs.mkdir()
    for index, image in enumerate(load_digits().images[:3]):
        Image.fromarray((image * 255 / 16).astype("uint8")).resize((40, 30)).save(inputs / f"edge_{index}.png")
    predict(tmp_path, checkpoint, "predict.inputs=edges")
    records = written(tmp_path)
    assert [Path(r["file"]).name for r in records] == ["edge_0.png", "edge_1.png", "edge_2.png"]
    assert all((r["width"], r["height"]) == (40, 30) for r in records)
    for record in records:
        assert Image.open(tmp_path / "out" / record["outputs"]["translated"]).size == (16, 16)


def test_vae_samples_without_inputs_and_reconstructs_with_them(tmp_path):
    checkpoint = train(tmp_path, "model=vae")
    predict_here(checkpoint, tmp_path / "samples", "predict.num_samples=4")
    assert len(written(tmp_path, "samples")) == 4 and (tmp_path / "samples" / "samples_grid.png").is_file()
    predict(tmp_path, checkpoint, "predict.inputs=samples/sample_000*.png")
    records = written(tmp_path)
    assert len(records) == 4
    assert Image.open(tmp_path / "out" / records[0]["outputs"]["reconstruction"]).size == (8, 8)
