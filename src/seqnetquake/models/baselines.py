"""The paper's five benchmark classifiers (Xiong et al. 2021, Table 2), one table entry each.

Architectures and spaces follow the authors' code (PAPER_NOTES, tools/hyper_spaces.py and
tools/models_build_train.py), minus their ``scale``/``normalize`` switches (scaling is always
inside the model). Our protocol (``space``) replaces the searched ``nb_epochs`` by early
stopping and, for the Keras models, uses SeqNetQuake's smaller unit range (16-128), fewer
layers and batches of 64-256 (measured in benchmarks/bench_tuning.py); ``authors_space``
keeps their values for the benchmark.

GBM is scikit-learn's ``GradientBoostingClassifier``, as in the authors' code, not
``HistGradientBoostingClassifier``: their space (``subsample``, ``max_features``, fractional
``min_samples_leaf``/``min_samples_split``) only exists for the former, and with leaves of at
least 10 % of the samples its trees are small enough that histogram binning would not buy
much on a few thousand windows of 40 values.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from hyperopt import hp
from hyperopt.pyll import scope
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from seqnetquake.models.base import ModelSpec
from seqnetquake.models.families import KerasClassifier, SklearnClassifier, dense_stack
from seqnetquake.models.seqnetquake import (
    ACTIVATIONS,
    AUTHORS_BATCHES,
    AUTHORS_EPOCHS,
    AUTHORS_FILTERS,
    AUTHORS_UNITS,
    BATCHES,
    DROPOUTS,
    FILTERS,
    OUR_ACTIVATIONS,
    OUR_DROPOUTS,
    UNITS,
    conv_stack,
    head,
    lstm_head_space,
    lstm_stack,
)


def _int(label: str, low: int, high: int, step: int = 1) -> Any:
    """An integer in [low, high] (ordered, so TPE can model it), as a plain int."""
    return scope.int(hp.quniform(label, low, high, step))


def _keras(name: str, body: Any) -> Any:
    def build(hyperparams: dict[str, Any], T: int, F: int) -> KerasClassifier:
        return KerasClassifier(name, hyperparams, T, F, body)

    return build


def _sklearn(name: str, make: Any) -> Any:
    def build(hyperparams: dict[str, Any], T: int, F: int) -> SklearnClassifier:
        return SklearnClassifier(name, hyperparams, T, F, make)

    return build


def _authors(space: dict[str, Any], layers: dict[str, list[int]]) -> dict[str, Any]:
    """The authors' space from ours: their units, filters, activations, dropouts, layer counts
    and batch sizes, and a searched, fixed epoch count instead of early stopping."""
    authors = {**space, **{k: hp.choice(k, v) for k, v in layers.items()}}
    theirs = {"lstm_units": AUTHORS_UNITS, "fc_units": AUTHORS_UNITS, "dnn_units": AUTHORS_UNITS,
              "cnn_filters": AUTHORS_FILTERS, "cnn_activation": ACTIVATIONS,
              "fc_activation": ACTIVATIONS, "dropout": DROPOUTS}
    for key, values in theirs.items():
        if key in space:
            authors[key] = hp.choice(key, values)
    authors["batch_size"] = hp.choice("batch_size", AUTHORS_BATCHES)
    authors["nb_epochs"] = hp.choice("nb_epochs", AUTHORS_EPOCHS)
    return authors


# ------------------------------------------------------------------------------------ CNN
def cnn_body(x: Any, hyperparams: dict[str, Any]) -> Any:
    """Conv1D x k -> Dropout -> MaxPooling1D(2) -> Flatten -> Dense x (fc_layers - 1)."""
    x = conv_stack(x, hyperparams, x.shape[1], wrap=False)
    return dense_stack(
        x, int(hyperparams["fc_layers"]) - 1, hyperparams["fc_units"], hyperparams["fc_activation"]
    )


CNN_SPACE: dict[str, Any] = {
    "padding": "same",
    "cnn_layers": hp.choice("cnn_layers", [2, 3, 4]),
    "cnn_filters": hp.choice("cnn_filters", FILTERS),
    "cnn_kernel": hp.choice("cnn_kernel", [2, 3]),
    "cnn_activation": hp.choice("cnn_activation", OUR_ACTIVATIONS),
    "fc_layers": hp.choice("fc_layers", [2, 3, 4]),
    "fc_units": hp.choice("fc_units", UNITS),
    "fc_activation": hp.choice("fc_activation", OUR_ACTIVATIONS),
    "dropout": hp.choice("dropout", OUR_DROPOUTS),
    "batch_size": hp.choice("batch_size", BATCHES),
}
CNN_AUTHORS_SPACE = {
    **_authors(CNN_SPACE, {"fc_layers": [2, 3, 4, 5, 6]}),
    "padding": "valid",
}


# ----------------------------------------------------------------------------------- LSTM
def lstm_body(x: Any, hyperparams: dict[str, Any]) -> Any:
    """LSTM x m -> Dropout -> Dense x (fc_layers - 1)."""
    return head(lstm_stack(x, hyperparams, bidirectional=False), hyperparams)


LSTM_SPACE: dict[str, Any] = lstm_head_space()
LSTM_AUTHORS_SPACE = _authors(
    LSTM_SPACE, {"lstm_layers": [1, 2, 3, 4, 5, 6], "fc_layers": [2, 3, 4, 5, 6]}
)


# ------------------------------------------------------------------------------------ DNN
def dnn_body(x: Any, hyperparams: dict[str, Any]) -> Any:
    """Flatten -> (Dense -> BatchNorm -> Dropout) x n."""
    x = keras.layers.Flatten()(x)
    return dense_stack(
        x,
        int(hyperparams["dnn_layers"]),
        hyperparams["dnn_units"],
        hyperparams["dnn_activation"],
        dropout=float(hyperparams["dropout"]),
        batch_norm=True,
    )


_DNN_COMMON: dict[str, Any] = {
    "dnn_layers": hp.choice("dnn_layers", [2, 3, 4, 5, 6]),
    "dnn_activation": hp.choice("dnn_activation", ACTIVATIONS),
    "dropout": hp.choice("dropout", DROPOUTS),
}
# The authors searched Adam lr in loguniform(e^-10, e^0) or SGD lr in loguniform(e^-15, e^1)
# with momentum U(0, 1). Ours narrows the rates to where Adam/SGD train at all
# (1e-4..1e-2 and 1e-3..1e-1): rates near 1 diverge and waste trials.
DNN_AUTHORS_SPACE: dict[str, Any] = {
    **_DNN_COMMON,
    "dnn_units": hp.choice("dnn_units", AUTHORS_UNITS),
    "batch_size": hp.choice("batch_size", AUTHORS_BATCHES),
    "optimizer": hp.choice(
        "optimizer",
        [
            {"name": "adam", "learning_rate": hp.loguniform("adam_lr", -10, 0)},
            {
                "name": "sgd",
                "learning_rate": hp.loguniform("sgd_lr", -15, 1),
                "momentum": hp.uniform("sgd_momentum", 0, 1),
            },
        ],
    ),
    "nb_epochs": hp.choice("nb_epochs", AUTHORS_EPOCHS),
}
DNN_SPACE: dict[str, Any] = {
    **_DNN_COMMON,
    "dnn_units": hp.choice("dnn_units", UNITS),
    "batch_size": hp.choice("batch_size", BATCHES),
    "optimizer": hp.choice(
        "optimizer",
        [
            {
                "name": "adam",
                "learning_rate": hp.loguniform("adam_lr", math.log(1e-4), math.log(1e-2)),
            },
            {
                "name": "sgd",
                "learning_rate": hp.loguniform("sgd_lr", math.log(1e-3), math.log(1e-1)),
                "momentum": hp.uniform("sgd_momentum", 0, 0.99),
            },
        ],
    ),
}


# ------------------------------------------------------------------------------------- RF
def make_rf(hyperparams: dict[str, Any]) -> RandomForestClassifier:
    """The space's keys are the estimator's parameters; one job (the CI has 2 cores)."""
    return RandomForestClassifier(n_jobs=1, **hyperparams)


RF_SPACE: dict[str, Any] = {
    "max_depth": _int("max_depth", 1, 27),
    "max_features": _int("max_features", 1, 9),
    "n_estimators": _int("n_estimators", 2, 298, 2),
    "min_samples_split": _int("min_samples_split", 2, 149),
    "min_samples_leaf": _int("min_samples_leaf", 1, 59),
    "max_leaf_nodes": _int("max_leaf_nodes", 2, 59),
    "min_weight_fraction_leaf": hp.choice("min_weight_fraction_leaf", [0.1, 0.2, 0.3, 0.4]),
    "criterion": hp.choice("criterion", ["gini", "entropy"]),
    "bootstrap": hp.choice("bootstrap", [True, False]),
}


# ------------------------------------------------------------------------------------ GBM
def make_gbm(hyperparams: dict[str, Any]) -> GradientBoostingClassifier:
    """The space's keys are the estimator's parameters."""
    return GradientBoostingClassifier(**hyperparams)


GBM_SPACE: dict[str, Any] = {
    "learning_rate": hp.uniform("learning_rate", 0.01, 0.2),
    "subsample": hp.uniform("subsample", 0.8, 1.0),
    "max_depth": _int("max_depth", 2, 10),
    "max_features": hp.choice("max_features", ["sqrt", "log2", None]),
    "min_samples_leaf": hp.uniform("min_samples_leaf", 0.1, 0.5),
    # The authors' U(0, 0.5); scikit-learn needs a fraction > 0.
    "min_samples_split": hp.uniform("min_samples_split", 0.001, 0.5),
    "n_estimators": hp.choice("n_estimators", [10, 100, 1000]),
}


BASELINES: tuple[ModelSpec, ...] = (
    ModelSpec("gbm", "sklearn", GBM_SPACE, _sklearn("gbm", make_gbm), GBM_SPACE),
    ModelSpec("dnn", "keras", DNN_SPACE, _keras("dnn", dnn_body), DNN_AUTHORS_SPACE),
    ModelSpec("rf", "sklearn", RF_SPACE, _sklearn("rf", make_rf), RF_SPACE),
    ModelSpec("cnn", "keras", CNN_SPACE, _keras("cnn", cnn_body), CNN_AUTHORS_SPACE),
    ModelSpec("lstm", "keras", LSTM_SPACE, _keras("lstm", lstm_body), LSTM_AUTHORS_SPACE),
)
