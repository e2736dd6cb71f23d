"""Input scaling that travels inside every model, so a saved model takes raw npz windows.

Ne spans four decades (5e2..1e7 cm^-3), so it is log10-transformed before standardisation;
Te (hundreds to thousands of K) is standardised as is. The statistics are fitted on the
training windows only (DESIGN §3: "scalers are fitted on train only"). The authors flattened
each window and applied an optional ``StandardScaler``/``Normalizer`` (PAPER_NOTES); we always
standardise and drop the row-wise ``Normalizer``, which mixes Ne and Te units.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops
from sklearn.base import BaseEstimator, TransformerMixin

NE_FEATURE = 0  # windows.features = [ne_cm3, te_k]
NE_FLOOR = 1.0  # cm^-3; keeps log10 finite on a (quality-filtered, so rare) zero reading
NO_FEATURE = -1  # no raw Ne channel: nothing is logged


def ne_index(channels: tuple[str, ...] | list[str]) -> int:
    """Position of the raw Ne channel, found by name; NO_FEATURE when absent.

    Only ``ne_cm3`` is log-scaled: residual channels (``*_resid``, ``*_z``) are signed and
    already logarithmic, ``te_k`` is standardised as is.
    """
    channels = list(channels)
    return channels.index("ne_cm3") if "ne_cm3" in channels else NO_FEATURE


@keras.saving.register_keras_serializable(package="seqnetquake")
class LogNe(keras.layers.Layer):
    """log10 of feature ``feature`` (Ne), other features passed through.

    A registered layer rather than a ``Lambda``: Keras' ``safe_mode`` refuses to load Lambdas.
    """

    def __init__(self, feature: int = NE_FEATURE, floor: float = NE_FLOOR, **kwargs: Any):
        super().__init__(**kwargs)
        self.feature = int(feature)
        self.floor = float(floor)

    def call(self, inputs):  # noqa: D102 - Keras API
        if self.feature < 0:
            return inputs
        n_features = inputs.shape[-1]
        mask = np.zeros(n_features, dtype="float32")
        mask[self.feature] = 1.0
        logged = ops.log10(ops.maximum(inputs, self.floor))
        return mask * logged + (1.0 - mask) * inputs

    def compute_output_shape(self, input_shape):  # noqa: D102 - Keras API
        return input_shape

    def get_config(self) -> dict[str, Any]:  # noqa: D102 - Keras API
        return {**super().get_config(), "feature": self.feature, "floor": self.floor}


def log_ne(X: np.ndarray, feature: int = NE_FEATURE, floor: float = NE_FLOOR) -> np.ndarray:
    """NumPy twin of :class:`LogNe` for the scikit-learn pipelines."""
    out = np.array(X, dtype=np.float64, copy=True)
    if feature < 0:
        return out
    out[..., feature] = np.log10(np.maximum(out[..., feature], floor))
    return out


class _Stateless(TransformerMixin, BaseEstimator):
    """A transformer with nothing to fit (so it is 'fitted' from the start)."""

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> _Stateless:
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True


class LogNeTransformer(_Stateless):
    """Pipeline step: log10 Ne on (N, T, F) windows."""

    def __init__(self, feature: int = NE_FEATURE, floor: float = NE_FLOOR):
        self.feature = feature
        self.floor = floor

    def transform(self, X: np.ndarray) -> np.ndarray:
        return log_ne(X, self.feature, self.floor)


class FlattenWindows(_Stateless):
    """Pipeline step: (N, T, F) -> (N, T * F), the authors' flattening for tabular models."""

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        return X.reshape(len(X), -1)
