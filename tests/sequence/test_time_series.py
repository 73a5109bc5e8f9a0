"""Time series: the sine windows, k-step-ahead prediction, the metrics, and the AR model learning."""
from __future__ import annotations

import json

import pytest
import torch
from helpers import run_dirs
from torch import nn

from dltrain.data.tabular.time_series import SineData, noisy_sine
from dltrain.errors import UserError
from dltrain.tasks.time_series import TimeSeriesTask, k_step_predictions


def sine(**options) -> SineData:
    data = SineData(**{"tau": 4, "num_steps": 1000, "max_horizon": 64, "seed": 0, **options})
    data.setup()
    return data


def test_series_is_the_notes_noisy_sine_and_fixed_by_the_seed():
    series = noisy_sine(1000, 0.2, seed=0)
    residual = series - torch.sin(0.01 * torch.arange(1, 1001))
    assert residual.std() == pytest.approx(0.2, abs=0.02)
    torch.testing.assert_close(series, noisy_sine(1000, 0.2, seed=0))


def test_windows_hold_the_past_tau_values_and_the_future_in_time_order():
    data = sine()
    window, future = data.train_dataset[0]
    torch.testing.assert_close(window, data.series[0:4])
    torch.testing.assert_close(future, data.series[4:5])
    window, future = data.val_dataset[0]  # the first val target is step 600; its window reaches into train
    torch.testing.assert_close(window, data.series[596:600])
    torch.testing.assert_close(future, data.series[600:664])
    assert len(data.train_dataset) == 600 - 4 and len(data.val_dataset) == 200 - 64 + 1
    assert data.test_dataset[len(data.test_dataset) - 1][1][-1] == data.series[-1]


def test_too_short_parts_are_refused():
    with pytest.raises(UserError, match="max_horizon"):
        sine(num_steps=200)


class Persistence(nn.Module):
    """Predicts the last value of the window: every k-step prediction equals the last observation."""

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return window[:, -1]


def test_k_step_predictions_feed_predictions_back():
    window = torch.tensor([[1.0, 2.0, 3.0]])
    torch.testing.assert_close(k_step_predictions(Persistence(), window, 4), torch.full((1, 4), 3.0))
    mean = type("Mean", (nn.Module,), {"forward": lambda self, w: w.mean(1)})()
    # (1+2+3)/3 = 2, then (2+3+2)/3 = 7/3, then (3+2+7/3)/3 = 22/9
    torch.testing.assert_close(k_step_predictions(mean, window, 3), torch.tensor([[2.0, 7 / 3, 22 / 9]]))


def test_k_step_errors_and_variance_against_hand_computed_values():
    task = TimeSeriesTask(Persistence(), horizons=(1, 2))
    window = torch.tensor([[0.0, 1.0], [0.0, 3.0]])
    future = torch.tensor([[2.0, 4.0], [3.0, 3.0]])
    task.validation_step((window, future), 0)
    metrics = task.compute_metrics("val")
    assert metrics["val/mse_1"] == pytest.approx((1 + 0) / 2)  # predictions 1 and 3 against 2 and 3
    assert metrics["val/mse_2"] == pytest.approx((9 + 0) / 2)  # predictions 1 and 3 against 4 and 3
    assert metrics["val/loss"] == metrics["val/mse_1"]
    assert metrics["val/variance"] == pytest.approx(0.25)  # of the 1-step targets 2 and 3
    with pytest.raises(UserError, match="max_horizon"):
        TimeSeriesTask(Persistence(), horizons=(1, 128)).check_data(sine())


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ar_mlp", "bilstm"])
def test_one_step_error_is_well_below_the_variance_of_the_series(cli, monkeypatch, model):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: one thread avoids contention on a shared machine
    cli("experiment=ar_mlp_sine", f"model={model}", "logger=csv")
    (run_dir,) = run_dirs(cli.root, f"{model}_sine")
    final = json.loads((run_dir / "results.json").read_text())["final"]
    series_variance = noisy_sine(1000, 0.2, seed=42).var().item()  # the run's series (seed 42), about 0.5
    assert final["val/mse_1"] < 0.25 * series_variance, (final, series_variance)
    assert final["val/mse_1"] < 0.5 * final["val/variance"]  # also far better than the validation part's own mean
    assert final["val/mse_1"] <= final["val/mse_64"]  # errors compound with the horizon
