"""The TensorBoard logger's events, read back as TensorBoard reads them."""
from __future__ import annotations

import torch
from tb_reading import EVERYTHING
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dltrain.engine.loggers import HISTOGRAM_BINS, TensorBoardLogger


def test_a_weight_histogram_is_a_few_equal_buckets_holding_every_value(tmp_path):
    weights = torch.randn(256, 64)
    logger = TensorBoardLogger()
    logger.setup(tmp_path)
    logger.log_histogram("weights/fc", weights, step=7)
    logger.close()
    (event,) = EventAccumulator(str(tmp_path / "tb"), size_guidance=EVERYTHING).Reload().Histograms("weights/fc")
    histogram = event.histogram_value
    assert event.step == 7
    # TensorFlow 2's bucket count, not torch's ~1,500 exponential edges (a 10-KB event, checksummed in pure Python)
    assert len(histogram.bucket) <= HISTOGRAM_BINS + 1
    assert sum(histogram.bucket) == histogram.num == weights.numel()
    assert (histogram.min, histogram.max) == (weights.min().item(), weights.max().item())
