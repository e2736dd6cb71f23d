"""SeqNetQuake (Xiong et al. 2021, Front. Environ. Sci. 9:779255, Fig. 3; the authors'
``CNNBiLSTM`` in PANXIONG-CN/SeqNetQuake): each window is cut into sub-sequences, a small
Conv1D stack reads each sub-sequence, and a bidirectional LSTM reads the sequence of their
features.

    (T, F) -> reshape (n_sub, T / n_sub, F) -> TimeDistributed(Conv1D) x k
    -> TimeDistributed(Dropout) -> TimeDistributed(MaxPooling1D(2)) -> TimeDistributed(Flatten)
    -> Bidirectional(LSTM) x m -> Dropout -> Dense x (n - 1) -> Dense(3, softmax)

The authors hard-wired ``n_sub = 2`` (so T = 20 only) and 'valid' convolutions. Here ``n_sub``
is a hyper-parameter and must divide T; :func:`sub_sequences` maps the requested value to a
divisor of T so that the model builds for any T (the rule is in its docstring).
"""

from __future__ import annotations

from typing import Any

import keras
from hyperopt import hp

from seqnetquake.models.base import ModelSpec
from seqnetquake.models.families import KerasClassifier, dense_stack

MIN_SUB_LEN = 4  # 'same' convolutions keep the length; MaxPooling1D(2) then leaves >= 2 steps
ACTIVATIONS = ["relu", "tanh", "sigmoid"]
DROPOUTS = [0.25, 0.5, 0.75]
AUTHORS_FILTERS = [2, 3, 4]
AUTHORS_UNITS = [64, 128, 256, 512]
AUTHORS_BATCHES = [10, 20, 40, 60, 80, 100]
AUTHORS_EPOCHS = [10, 50, 100]
# Ours (benchmarks/bench_tuning.py, docs/tuning.md): a 4x smaller unit range (a few thousand
# windows of 20 x 2 do not need 5 x 512 BiLSTM units) and batches of 64-256 (a CPU step costs
# about the same for 10 or 256 windows) make a 100-trial search tens of times cheaper at no
# loss of validation skill.
UNITS = [16, 32, 64, 128]
BATCHES = [64, 128, 256]
# Ours (docs/tuning.md, "Constant predictors", benchmarks/bench_space.py): with the authors'
# 2-4 filters, sigmoid activations and dropout up to 0.75 most random SeqNetQuake draws train
# into a constant predictor (the class prior) within early stopping's patience; 8-32 filters,
# relu/tanh and dropout 0.1-0.5 rarely do.
FILTERS = [8, 16, 32]
OUR_ACTIVATIONS = ["relu", "tanh"]
OUR_DROPOUTS = [0.1, 0.25, 0.5]


def sub_sequences(T: int, requested: int) -> int:
    """The number of sub-sequences actually used for windows of length T.

    Rule: among the divisors d of T with T / d >= MIN_SUB_LEN (4), take the one nearest to
    the requested value; ties go to the larger d (more steps for the LSTM). T = 20 gives the
    requested 2, 4 or 5 unchanged; T = 10 always gives 2; T = 30 maps 4 to 5; T = 50 maps 4
    to 5; a prime T (11, 13, ...) gives 1, a single sub-sequence.
    """
    candidates = [d for d in range(1, T + 1) if T % d == 0 and T // d >= MIN_SUB_LEN]
    if not candidates:
        return 1
    return min(candidates, key=lambda d: (abs(d - requested), -d))


def conv_length(length: int, layers: int, kernel: int, padding: str) -> int:
    """Length after ``layers`` Conv1D layers; 'valid' loses kernel - 1 steps per layer."""
    return length if padding == "same" else length - layers * (kernel - 1)


def conv_stack(x: Any, hyperparams: dict[str, Any], length: int, wrap: bool) -> Any:
    """Conv1D x k -> Dropout -> MaxPooling1D(2) -> Flatten, optionally per sub-sequence.

    Shared by SeqNetQuake (``wrap``: TimeDistributed over sub-sequences) and the CNN baseline.
    """
    padding = hyperparams.get("padding", "same")
    layers, kernel = int(hyperparams["cnn_layers"]), int(hyperparams["cnn_kernel"])
    if conv_length(length, layers, kernel, padding) < 2:
        raise ValueError(
            f"{layers} '{padding}' Conv1D layers of kernel {kernel} leave too few of "
            f"{length} steps for MaxPooling1D(2)"
        )

    def td(layer: keras.layers.Layer) -> keras.layers.Layer:
        return keras.layers.TimeDistributed(layer) if wrap else layer

    for _ in range(layers):
        x = td(
            keras.layers.Conv1D(
                int(hyperparams["cnn_filters"]),
                kernel,
                activation=hyperparams["cnn_activation"],
                padding=padding,
            )
        )(x)
    x = td(keras.layers.Dropout(float(hyperparams["dropout"])))(x)
    x = td(keras.layers.MaxPooling1D(2))(x)
    return td(keras.layers.Flatten())(x)


def lstm_stack(x: Any, hyperparams: dict[str, Any], bidirectional: bool) -> Any:
    """(Bi)LSTM x m, all but the last returning sequences; shared with the LSTM baseline."""
    layers = int(hyperparams["lstm_layers"])
    for i in range(layers):
        lstm = keras.layers.LSTM(int(hyperparams["lstm_units"]), return_sequences=i < layers - 1)
        x = (keras.layers.Bidirectional(lstm) if bidirectional else lstm)(x)
    return x


def head(x: Any, hyperparams: dict[str, Any]) -> Any:
    """Dropout -> Dense x (fc_layers - 1); the softmax layer is the last of the fc_layers."""
    x = keras.layers.Dropout(float(hyperparams["dropout"]))(x)
    return dense_stack(
        x, int(hyperparams["fc_layers"]) - 1, hyperparams["fc_units"], hyperparams["fc_activation"]
    )


def seqnetquake_body(x: Any, hyperparams: dict[str, Any]) -> Any:
    _, T, F = x.shape
    n_sub = sub_sequences(T, int(hyperparams.get("n_sub", 2)))
    x = keras.layers.Reshape((n_sub, T // n_sub, F), name="sub_sequences")(x)
    x = conv_stack(x, hyperparams, T // n_sub, wrap=True)
    x = lstm_stack(x, hyperparams, bidirectional=True)
    return head(x, hyperparams)


def build(hyperparams: dict[str, Any], T: int, F: int) -> KerasClassifier:
    return KerasClassifier("seqnetquake", hyperparams, T, F, seqnetquake_body)


# The authors' CNNBiLSTM space (PAPER_NOTES, tools/hyper_spaces.py), minus scale/normalize
# (scaling is always inside the model). n_steps was searched but hard-coded to 2; padding
# was Keras' default 'valid'.
AUTHORS_SPACE: dict[str, Any] = {
    "n_sub": 2,
    "padding": "valid",
    "cnn_layers": hp.choice("cnn_layers", [2, 3, 4]),
    "cnn_filters": hp.choice("cnn_filters", AUTHORS_FILTERS),
    "cnn_kernel": hp.choice("cnn_kernel", [2, 3]),
    "cnn_activation": hp.choice("cnn_activation", ACTIVATIONS),
    "lstm_layers": hp.choice("lstm_layers", [1, 2, 3, 4, 5]),
    "lstm_units": hp.choice("lstm_units", AUTHORS_UNITS),
    "fc_layers": hp.choice("fc_layers", [2, 3, 4, 5, 6]),
    "fc_units": hp.choice("fc_units", AUTHORS_UNITS),
    "fc_activation": hp.choice("fc_activation", ACTIVATIONS),
    "dropout": hp.choice("dropout", DROPOUTS),
    "batch_size": hp.choice("batch_size", AUTHORS_BATCHES),
    "nb_epochs": hp.choice("nb_epochs", AUTHORS_EPOCHS),
}

def lstm_head_space() -> dict[str, Any]:
    """Our search space of the recurrent head SeqNetQuake and the LSTM baseline share: LSTM x m,
    Dense x n, dropout, batch size (a fresh dict of fresh nodes on every call)."""
    return {
        "lstm_layers": hp.choice("lstm_layers", [1, 2, 3]),
        "lstm_units": hp.choice("lstm_units", UNITS),
        "fc_layers": hp.choice("fc_layers", [2, 3, 4]),
        "fc_units": hp.choice("fc_units", UNITS),
        "fc_activation": hp.choice("fc_activation", OUR_ACTIVATIONS),
        "dropout": hp.choice("dropout", OUR_DROPOUTS),
        "batch_size": hp.choice("batch_size", BATCHES),
    }


# Ours: the same architecture space with the epoch count replaced by early stopping on the
# validation loss (tuning.max_epochs, tuning.patience), n_sub searched for any T, 'same'
# padding, 8-32 filters, relu/tanh, dropout 0.1-0.5, at most 3 BiLSTM and 4 Dense layers of
# 16-128 units, batches of 64-256.
SPACE: dict[str, Any] = {
    "n_sub": hp.choice("n_sub", [2, 4, 5]),
    "padding": "same",
    "cnn_layers": hp.choice("cnn_layers", [2, 3, 4]),
    "cnn_filters": hp.choice("cnn_filters", FILTERS),
    "cnn_kernel": hp.choice("cnn_kernel", [2, 3]),
    "cnn_activation": hp.choice("cnn_activation", OUR_ACTIVATIONS),
    **lstm_head_space(),
}

SPEC = ModelSpec(
    name="seqnetquake", family="keras", space=SPACE, build=build, authors_space=AUTHORS_SPACE
)
