"""Tabular datasets of scikit-learn: diabetes (regression), breast cancer (binary), California housing.

* ``diabetes``: 442 patients, 10 features, disease progression after one year
  (Efron et al., 2004); ships with scikit-learn, offline.
* ``breast_cancer``: 569 tumours, 30 features, malignant (1) or benign (0)
  (Wisconsin diagnostic, 1995); ships with scikit-learn, offline. scikit-learn
  codes malignant as 0; we flip it so the positive class is the disease.
* ``california_housing``: 20,640 districts, 8 features, median house value
  (Pace & Barry, 1997); downloaded by scikit-learn into ``data.root``.

Splits are fixed by ``seed`` (stratified for the binary set). Features are
standardised, x' = (x - mean) / std, with mean and std of the TRAINING split
only: statistics of the validation or test rows would leak into training.
Regression targets are standardised the same way, so one learning rate suits
every dataset; ``target_mean`` / ``target_std`` let the regression task report
its errors in the original units.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from dltrain.data.core.base import DataModule
from dltrain.data.core.splits import train_val_test
from dltrain.data.core.standardize import Standardizer
from dltrain.errors import UserError

REGRESSION, BINARY = "regression", "binary"
KINDS = {"diabetes": REGRESSION, "breast_cancer": BINARY, "california_housing": REGRESSION}


class TabularData(DataModule):
    def __init__(
        self,
        name: str,
        num_features: int,
        root: str = "data",
        download: bool = True,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        class_names: list[str] | None = None,
        **loader_options,
    ) -> None:
        if name not in KINDS:
            raise UserError(f"data.name={name} is not a tabular dataset; pick one of {', '.join(KINDS)}.")
        super().__init__(**loader_options)
        self.name, self.num_features, self.kind = name, num_features, KINDS[name]
        self.root, self.download = str(root), download
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.target_mean, self.target_std = 0.0, 1.0
        self.class_names = list(class_names) if class_names else None  # of a classification set: 0, 1, ...

    def setup(self) -> None:
        features, target = self._load()
        if features.shape[1] != self.num_features:
            raise UserError(f"{self.name} has {features.shape[1]} features but data.num_features="
                            f"{self.num_features}; set data.num_features={features.shape[1]}.")
        x = torch.from_numpy(features).float()
        y = torch.from_numpy(target).float()
        stratify = target if self.kind == BINARY else None
        train, val, test = train_val_test(np.arange(len(y)), self.val_fraction, self.test_fraction, self.seed,
                                          stratify=stratify)
        scale_x = Standardizer(x[train])
        if self.kind == REGRESSION:
            scale_y = Standardizer(y[train].unsqueeze(1))
            self.target_mean, self.target_std = float(scale_y.mean), float(scale_y.std)
            y = scale_y(y.unsqueeze(1)).squeeze(1)
        self.train_dataset = TensorDataset(scale_x(x[train]), y[train])
        self.val_dataset = TensorDataset(scale_x(x[val]), y[val])
        self.test_dataset = TensorDataset(scale_x(x[test]), y[test])

    def _load(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn import datasets  # here: importing scikit-learn costs a second, and only these sets need it

        if self.name == "diabetes":
            return datasets.load_diabetes(return_X_y=True)
        if self.name == "breast_cancer":
            features, target = datasets.load_breast_cancer(return_X_y=True)
            return features, 1 - target  # 1 = malignant, the class a screening test looks for
        try:
            return datasets.fetch_california_housing(data_home=self.root, download_if_missing=self.download,
                                                     return_X_y=True)
        except Exception as error:  # offline: URLError / OSError; download=false and absent: OSError
            raise UserError(
                f"California housing is not in {Path(self.root).resolve()} and could not be downloaded "
                f"({type(error).__name__}); connect to the internet once, or use the offline data=diabetes."
            ) from None
