"""Your own code: the example data module of docs/examples/own_data, named from a user's config folder through
``hydra.searchpath`` (the package is not edited), trains, and its checkpoint evaluates when the command trusts the
module (``trust_targets``)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import run_dirs

from dltrain import api

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "own_data"


def test_a_data_module_from_a_users_config_folder_trains_and_evaluates(cli, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLE), os.environ.get("PYTHONPATH", "")]))
    search = f"hydra.searchpath=[file://{EXAMPLE / 'configs'}]"
    cli(search, "data=waveforms", "model=cnn1d", "trainer.max_epochs=2", "logger=csv", "trainer.log_histograms=false",
        "trainer.enable_progress_bar=false")
    (run,) = run_dirs(cli.root, "cnn1d_waveforms")
    results = json.loads((run / "results.json").read_text())
    assert results["test"]["test/acc"] > 0.8  # three waveforms: chance is 1/3
    monkeypatch.syspath_prepend(str(EXAMPLE))  # the module the checkpoint's config names, for this process
    # a stored config names only dltrain's targets unless the command trusts another (docs/own_data.md)
    metrics = api.evaluate(run / "checkpoints" / "best.ckpt", ["trust_targets=[waveforms]"], run_dir=cli.root / "eval")
    assert metrics["test/acc"] == results["test"]["test/acc"]
