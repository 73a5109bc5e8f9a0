"""Linear / logistic / softmax regression, the tabular data, the regression and binary tasks."""
from __future__ import annotations

import pytest
import torch
from helpers import run_dirs
from hydra.utils import instantiate
from PIL import Image
from sklearn.linear_model import LinearRegression as LeastSquares
from sklearn.metrics import r2_score
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dltrain import api
from dltrain.data.core.standardize import Standardizer
from dltrain.data.tabular.sklearn_sets import TabularData
from dltrain.data.vision.digits import DigitsData
from dltrain.errors import UserError
from dltrain.tasks.binary_classification import BinaryClassificationTask, positive_logit
from dltrain.tasks.regression import RegressionTask


@pytest.mark.parametrize("model, data, shape", [
    ("linear_regression", "diabetes", (4,)),
    ("logistic_regression", "breast_cancer", (4,)),
    ("softmax_regression", "digits", (4, 10)),
])
def test_model_config_builds_and_trains_one_step(model, data, shape):
    cfg = api.compose([f"model={model}", f"data={data}"])
    net = instantiate(cfg.model)
    x = torch.randn(4, cfg.data.num_features) if "num_features" in cfg.data else torch.randn(4, 1, 8, 8)
    out = net(x)
    assert out.shape == shape and torch.all(out == 0)  # zero start: the "know nothing" prediction
    out.pow(2).add(out).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_standardizer_uses_the_statistics_of_the_rows_it_was_fitted_on():
    train, other = torch.tensor([[0.0, 10.0], [2.0, 30.0]]), torch.tensor([[4.0, 20.0]])
    scale = Standardizer(train)
    std = torch.tensor([2.0, 20.0]).div(2).mul(2 ** 0.5)  # unbiased std of two rows: |a - b| / sqrt(2)
    torch.testing.assert_close(scale(other), (other - torch.tensor([1.0, 20.0])) / std)


@pytest.mark.parametrize("name", ["diabetes", "breast_cancer"])
def test_features_are_standardised_with_training_statistics_only(name):
    data = TabularData(name, 10 if name == "diabetes" else 30, seed=0)
    data.setup()
    train, val = data.train_dataset.tensors[0], data.val_dataset.tensors[0]
    torch.testing.assert_close(train.mean(0), torch.zeros(train.shape[1]), atol=1e-5, rtol=0)
    torch.testing.assert_close(train.std(0), torch.ones(train.shape[1]), atol=1e-5, rtol=0)
    assert val.mean(0).abs().max() > 0.05  # fitted on the validation rows it would be 0 too
    assert len(data.train_dataset) + len(data.val_dataset) + len(data.test_dataset) in (442, 569)


def test_breast_cancer_positive_class_is_malignant_and_splits_are_stratified():
    data = TabularData("breast_cancer", 30, seed=0)
    data.setup()
    labels = torch.cat([d.tensors[1] for d in (data.train_dataset, data.val_dataset, data.test_dataset)])
    assert labels.sum() == 212  # 212 malignant, 357 benign
    assert abs(data.val_dataset.tensors[1].mean() - 212 / 569) < 0.02


def test_regression_metrics_are_in_the_data_units():
    data = TabularData("diabetes", 10, seed=0)
    data.setup()
    features, target = data.val_dataset.tensors

    class OffByOne(torch.nn.Module):  # predicts one unit (of the original target) too high
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return target + 1 / data.target_std

    task = RegressionTask(OffByOne(), loss=torch.nn.CrossEntropyLoss())
    assert isinstance(task.loss_fn, torch.nn.MSELoss)  # the root default loss is replaced
    task.check_data(data)
    task.validation_step((features, target), 0)
    values = task.compute_metrics("val")
    assert values["val/mae"] == pytest.approx(1.0, rel=1e-4) and values["val/rmse"] == pytest.approx(1.0, rel=1e-4)


def test_tasks_refuse_data_of_another_kind():
    digits = DigitsData()
    with pytest.raises(UserError, match="regression dataset"):
        RegressionTask(torch.nn.Linear(2, 1)).check_data(digits)
    with pytest.raises(UserError, match="two-class dataset"):
        BinaryClassificationTask(torch.nn.Linear(2, 1)).check_data(digits)


def test_two_logit_outputs_give_the_softmax_probability_of_class_one():
    logits = torch.randn(5, 2)
    torch.testing.assert_close(torch.sigmoid(positive_logit(logits)), logits.softmax(1)[:, 1])


def test_california_housing_offline_fails_in_one_sentence(tmp_path):
    data = instantiate(api.compose(["data=california_housing", f"data.root={tmp_path}", "data.download=false"]).data)
    with pytest.raises(UserError, match="California housing is not in"):
        data.setup()


def test_cli_logistic_regression_on_breast_cancer_logs_metrics_and_curves(cli):
    cli("model=logistic_regression", "data=breast_cancer", "trainer.max_epochs=2",
        "trainer.visuals_every_n_validations=1", "trainer.visuals_time_share=null")  # pictures at each validation
    (run_dir,) = run_dirs(cli.root, "logistic_regression_breast_cancer")
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0}).Reload()
    assert {"val/acc", "val/precision", "val/recall", "val/roc_auc"} <= set(events.Tags()["scalars"])
    assert {"val/roc_curve", "val/pr_curve", "test/roc_curve"} <= set(events.Tags()["images"])
    assert "test/pr/malignant" in events.Tags()["tensors"]  # PR CURVES names the positive class (data.class_names)
    assert {"roc_curve.png", "pr_curve.png"} <= {p.name for p in (run_dir / "plots").iterdir()}
    roc = Image.open(run_dir / "plots" / "roc_curve.png")
    assert min(roc.size) >= 500  # matplotlib's labelled figure, not a thumbnail


@pytest.mark.slow
def test_linear_regression_reaches_the_least_squares_fit(train_run):
    results = train_run("experiment=linear_regression_diabetes")
    data = TabularData("diabetes", 10, seed=42)
    data.setup()
    (x, y), (x_test, y_test) = data.train_dataset.tensors, data.test_dataset.tensors
    closed_form = r2_score(y_test, LeastSquares().fit(x, y).predict(x_test))
    assert results["test"]["test/r2"] > 0.3  # far better than predicting the mean (R^2 = 0)
    assert results["test"]["test/r2"] > closed_form - 0.03


@pytest.mark.slow
def test_logistic_regression_separates_tumours(train_run):
    results = train_run("experiment=logistic_regression_breast_cancer")
    assert results["test"]["test/acc"] > 0.93  # the majority class alone is 63%
    assert results["test"]["test/roc_auc"] > 0.97


@pytest.mark.slow
def test_softmax_regression_learns_digits(train_run):
    results = train_run("model=softmax_regression", "trainer.max_epochs=15", "optimizer.lr=0.01")
    assert results["test"]["test/acc"] > 0.9  # chance is 10%
