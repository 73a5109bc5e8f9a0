"""`trainer=debug` checks any experiment end to end in seconds: a few batches of one epoch, a test pass as short,
and evaluation by its cheapest path (greedy decoding, no beam search; short language-model samples).

Before, `experiment=seq2seq_attention_dates trainer=debug` took over four minutes: the test after training ran the
whole test split with beam search. Data that must be downloaded (CIFAR-10, MNIST, Cora, MUTAG) is swapped for
offline data of the same kind; everything else is the experiment as shipped.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from dltrain import api
from dltrain.launch.config import CONFIG_DIR

OFFLINE = {  # experiments whose data is downloaded: the same kind of data, offline
    # and small evaluation batches: cifar10_speedrun evaluates 1024 images per batch in bf16, which a CPU without
    # bf16 units emulates (100 s for three batches here; a GPU recipe)
    "cifar10": ["data=digits", "data.image_size=32", "data.in_channels=3", "data.batch_size=4",
                "++data.eval_batch_size=4"],
    "mnist": ["data=digits", "data.image_size=28"],
    "cora": ["data=sbm"],
    "mutag": ["data=cycles_vs_trees"],
}
EXPERIMENTS = sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


def offline_overrides(name: str) -> list[str]:
    return next((swap for data, swap in OFFLINE.items() if data in name), [])


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_debug_run_of_every_experiment_trains_validates_and_tests_a_few_batches(name: str, tmp_path: Path) -> None:
    results = api.train([f"experiment={name}", *offline_overrides(name), "trainer=debug", "logger=none"],
                        run_dir=tmp_path)
    assert results["final"] and all(math.isfinite(v) for v in results["final"].values()), results["final"]
    assert not [k for k in {**results["final"], **results.get("test", {})} if k.endswith("_beam")]
