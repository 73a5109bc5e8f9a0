"""Helpers of the paradigm tests: in-process training runs on one CPU thread.

Two torch threads on a shared, loaded 2-core machine spend most of their
time waiting for each other; the tiny models here run faster on one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from dltrain import api


@pytest.fixture
def train_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DLTRAIN_DATA_DIR", str(tmp_path / "data"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    counter = iter(range(1000))

    def call(*overrides: str) -> dict[str, Any]:
        quiet = ["logger=csv", "trainer.log_histograms=false", "trainer.enable_progress_bar=false"]
        return api.train([*quiet, *overrides], run_dir=tmp_path / f"run{next(counter)}")

    call.root = tmp_path
    yield call
    torch.set_num_threads(threads)
