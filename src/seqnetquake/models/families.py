"""The two model families, sharing everything but the layers/estimator.

Xiong et al.'s code had one near-identical build-compile-fit function per model; here a Keras
model is a *body* (the layers between the scaled input and the softmax) plugged into one
:class:`KerasClassifier` (scaling, Dense head, compile, early-stopping loop, fine-tuning, save),
and a scikit-learn model is an *estimator factory* plugged into one :class:`SklearnClassifier`
(scaling pipeline, seeding, save).
"""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import skops.io
import tensorflow as tf
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from seqnetquake import windowcheck
from seqnetquake.contracts import N_CLASSES
from seqnetquake.models.base import Classifier, FitResult, write_meta
from seqnetquake.models.scaling import FlattenWindows, LogNe, LogNeTransformer, ne_index
from seqnetquake.windowset import DEFAULT_CHANNELS, WindowSet

Body = Callable[[Any, dict[str, Any]], Any]  # (scaled input tensor, hyperparams) -> features
EstimatorFactory = Callable[[dict[str, Any]], Any]

KERAS_FILE = "model.keras"
SKOPS_FILE = "model.skops"
PREDICT_CHUNK = 4096
# skops loads only types it trusts: beyond skops' own defaults, exactly the types this project
# saves (a prefix such as "sklearn." would admit helpers that run code, e.g. a function given
# to FunctionTransformer). tests/models/test_models.py keeps the list equal to what rf/gbm save.
TRUSTED_TYPES = (
    "seqnetquake.models.scaling.FlattenWindows",
    "seqnetquake.models.scaling.LogNeTransformer",
    "sklearn.tree._tree.Tree",
)


def seed_everything(seed: int) -> None:
    """Python, NumPy, TF and Keras seeds plus deterministic TF kernels (same params, same run)."""
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def check_windows(X: np.ndarray, T: int, channels: Sequence[str]) -> np.ndarray:
    """Windows as float32 after ``windowcheck.check_windows`` (shape T x channels, finite
    values): no model fits on or scores a NaN. The instrument ranges are the npz readers' and
    serving's check, not the model's. Raises InputError (a ValueError), one line."""
    windowcheck.check_windows(X, T=T, channels=channels, ranges=False)
    return np.asarray(X, dtype=np.float32)


def dense_stack(
    x: Any,
    n_layers: int,
    units: int,
    activation: str,
    *,
    dropout: float | None = None,
    batch_norm: bool = False,
) -> Any:
    """``n_layers`` hidden Dense layers: the fully connected part every Keras model shares."""
    for _ in range(int(n_layers)):
        x = keras.layers.Dense(int(units), activation=activation)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        if dropout:
            x = keras.layers.Dropout(float(dropout))(x)
    return x


def make_optimizer(hyperparams: dict[str, Any], learning_rate: float | None = None) -> Any:
    """Adam with Keras' default rate unless the hyper-parameters say otherwise (DNN: Adam/SGD)."""
    opt = hyperparams.get("optimizer") or {"name": "adam"}
    lr = float(learning_rate if learning_rate is not None else opt.get("learning_rate", 1e-3))
    if opt["name"] == "sgd":
        return keras.optimizers.SGD(lr, momentum=float(opt.get("momentum", 0.0)))
    return keras.optimizers.Adam(lr)


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds per epoch (the first includes TensorFlow's tracing of the step)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


class KerasClassifier(Classifier):
    """LogNe -> Normalization (adapted on train) -> body -> Dense(3, softmax).

    Training protocol: early stopping on validation loss with the best epoch restored, up to
    ``max_epochs``. If the hyper-parameters carry ``nb_epochs`` (the authors' protocol, kept
    for the benchmark) exactly that many epochs run, without early stopping.
    """

    family = "keras"

    def __init__(self, name: str, hyperparams: dict[str, Any], T: int, F: int, body: Body):
        self.name = name
        self.hyperparams = dict(hyperparams)
        self.T, self.F = int(T), int(F)
        self.body = body
        self.channels: tuple[str, ...] = DEFAULT_CHANNELS  # set from the training windows
        self._model: keras.Model | None = None

    @property
    def model(self) -> keras.Model:
        """The Keras model (built on first use with the current seeds)."""
        if self._model is None:
            self._model = self._build()
        return self._model

    def _build(self) -> keras.Model:
        inputs = keras.Input((self.T, self.F), name="windows")
        x = LogNe(feature=ne_index(self.channels), name="log_ne")(inputs)
        x = keras.layers.Normalization(axis=-1, name="scale")(x)
        x = self.body(x, self.hyperparams)
        outputs = keras.layers.Dense(N_CLASSES, activation="softmax", name="probabilities")(x)
        return keras.Model(inputs, outputs, name=self.name)

    def _adapt(self, X: np.ndarray) -> None:
        scale = self.model.get_layer("scale")
        scale.adapt(np.asarray(self.model.get_layer("log_ne")(X)))

    def _train(
        self,
        X: np.ndarray,
        train: WindowSet,
        val: WindowSet,
        optimizer: Any,
        max_epochs: int,
        patience: int,
    ) -> FitResult:
        """Fit on ``X``, the windows of ``train`` as :func:`check_windows` returned them."""
        fixed = self.hyperparams.get("nb_epochs")
        self.model.compile(
            optimizer=optimizer, loss="sparse_categorical_crossentropy", jit_compile=False
        )
        # Optimizer variables created inside the first traced step make TensorFlow trace the
        # step twice (a few seconds per trial on CPU, bench_tuning.py): create them now.
        self.model.optimizer.build(self.model.trainable_variables)
        kwargs: dict[str, Any] = {}
        if fixed is None:
            # The whole validation set as one batch: one traced eval step, one call per epoch.
            kwargs["validation_data"] = (
                check_windows(val.X, self.T, self.channels), np.asarray(val.y, dtype=np.int64)
            )
            kwargs["validation_batch_size"] = max(len(val), 1)
            kwargs["callbacks"] = [
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=int(patience), restore_best_weights=True
                )
            ]
        timer = EpochTimer()
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), timer]
        start = time.perf_counter()
        history = self.model.fit(
            X,
            np.asarray(train.y, dtype=np.int64),
            batch_size=int(self.hyperparams.get("batch_size", 64)),
            epochs=int(fixed if fixed is not None else max_epochs),
            shuffle=True,  # reshuffled every epoch, seeded by seed_everything
            verbose=0,
            **kwargs,
        )
        seconds = time.perf_counter() - start
        hist = {k: [float(v) for v in vs] for k, vs in history.history.items()}
        hist["seconds"] = timer.seconds
        return FitResult(epochs=len(hist.get("loss", [])), seconds=seconds, history=hist)

    def fit(
        self, train: WindowSet, val: WindowSet, *, max_epochs: int, patience: int, seed: int
    ) -> FitResult:
        seed_everything(seed)
        self.channels = tuple(train.channels)
        self._model = self._build()  # fresh weights drawn under this seed
        X = check_windows(train.X, self.T, self.channels)
        self._adapt(X)
        return self._train(X, train, val, make_optimizer(self.hyperparams), max_epochs, patience)

    def fine_tune(
        self,
        train: WindowSet,
        val: WindowSet,
        *,
        max_epochs: int,
        patience: int,
        learning_rate: float,
        seed: int,
        readapt_scaling: bool = True,
    ) -> FitResult:
        """All layers trainable, from the current weights (the paper's transfer step)."""
        if tuple(train.channels) != tuple(self.channels):
            raise ValueError(f"{self.name}: fine-tuning windows have channels "
                             f"{list(train.channels)}, the model was trained on "
                             f"{list(self.channels)}")
        seed_everything(seed)
        X = check_windows(train.X, self.T, self.channels)
        if readapt_scaling:
            self._adapt(X)
        self.model.trainable = True
        for layer in self.model.layers:
            layer.trainable = True
        optimizer = make_optimizer(self.hyperparams, learning_rate=learning_rate)
        return self._train(X, train, val, optimizer, max_epochs, patience)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = check_windows(X, self.T, self.channels)
        # Eager calls: no per-call tracing, and always the current scaling statistics.
        parts = [
            np.asarray(self.model(X[i : i + PREDICT_CHUNK], training=False))
            for i in range(0, len(X), PREDICT_CHUNK)
        ]
        if not parts:
            return np.zeros((0, N_CLASSES))
        return np.concatenate(parts).astype(np.float64)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(directory / KERAS_FILE)
        deterministic_zip(directory / KERAS_FILE)
        write_meta(directory, self._meta(self.family, T=self.T, F=self.F, file=KERAS_FILE,
                                         channels=list(self.channels)))

    def _restore(self, directory: Path) -> None:
        self._model = keras.saving.load_model(Path(directory) / KERAS_FILE)


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Keras (config.json "shared_object_id") and skops (schema.json "__id__", member "<id>.npy")
# name shared objects by id(), a memory address that differs on every run.
_OBJECT_IDS = re.compile(rb'("shared_object_id": |"__id__": |")(\d{6,})(\.npy"|\b)')


def _renumber_object_ids(members: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Object ids replaced by their order of first appearance, in contents and member names."""
    mapping: dict[bytes, bytes] = {}
    for name, data in sorted(members):
        if not name.endswith(".json"):
            continue
        for match in _OBJECT_IDS.finditer(data):
            mapping.setdefault(match.group(2), str(len(mapping)).encode())
    if not mapping:
        return members

    def sub(match: re.Match[bytes]) -> bytes:
        new = mapping.get(match.group(2))
        return match.group(1) + new + match.group(3) if new else match.group(0)

    out = []
    for name, data in members:
        stem, dot, ext = name.partition(".")
        if ext == "npy" and stem.encode() in mapping:
            name = f"{mapping[stem.encode()].decode()}{dot}{ext}"
        out.append((name, _OBJECT_IDS.sub(sub, data) if name.endswith(".json") else data))
    return out


def deterministic_zip(path: Path) -> None:
    """Rewrite a ``.keras``/``.skops`` zip so that equal models give equal bytes (a stable DVC
    hash): fixed timestamps (Keras' ``date_saved`` too) and object ids renumbered by first
    appearance in the JSON members; members sorted by name, references kept.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.zip.tmp")
    try:
        with zipfile.ZipFile(path) as src:
            infos = src.infolist()
            members: list[tuple[str, bytes]] = []
            for info in infos:
                data = src.read(info)
                if info.filename == "metadata.json":
                    meta = json.loads(data)
                    if "date_saved" in meta:
                        meta["date_saved"] = "1980-01-01@00:00:00"
                        data = json.dumps(meta).encode()
                members.append((info.filename, data))
        compress = {info.filename: info.compress_type for info in infos}
        renamed = zip(_renumber_object_ids(members), members, strict=True)
        with zipfile.ZipFile(tmp, "w") as dst:
            for (name, data), (old, _) in sorted(renamed):
                fixed = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                fixed.compress_type = compress[old]
                fixed.external_attr = 0o644 << 16
                dst.writestr(fixed, data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class SklearnClassifier(Classifier):
    """Pipeline: log10 Ne -> flatten (T x F) -> StandardScaler -> estimator.

    No epochs and no early stopping: ``val`` is not used by ``fit``; tuning scores on it.
    """

    family = "sklearn"

    def __init__(
        self, name: str, hyperparams: dict[str, Any], T: int, F: int, make: EstimatorFactory
    ):
        self.name = name
        self.hyperparams = dict(hyperparams)
        self.T, self.F = int(T), int(F)
        self.make = make
        self.channels: tuple[str, ...] = DEFAULT_CHANNELS  # set from the training windows
        self.pipeline = self._pipeline(seed=None)

    def _pipeline(self, seed: int | None) -> Pipeline:
        estimator = self.make(self.hyperparams)
        if seed is not None and "random_state" in estimator.get_params():
            estimator.set_params(random_state=int(seed))
        return Pipeline(
            [
                ("log_ne", LogNeTransformer(feature=ne_index(self.channels))),
                ("flatten", FlattenWindows()),
                ("scale", StandardScaler()),
                ("clf", estimator),
            ]
        )

    def fit(
        self, train: WindowSet, val: WindowSet, *, max_epochs: int, patience: int, seed: int
    ) -> FitResult:
        np.random.seed(int(seed) % 2**32)
        self.channels = tuple(train.channels)
        self.pipeline = self._pipeline(seed)
        start = time.perf_counter()
        self.pipeline.fit(check_windows(train.X, self.T, self.channels), np.asarray(train.y))
        return FitResult(epochs=1, seconds=time.perf_counter() - start, history={})

    def fine_tune(self, *args: Any, **kwargs: Any) -> FitResult:
        raise NotImplementedError(f"{self.name}: scikit-learn models cannot be fine-tuned")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = check_windows(X, self.T, self.channels)
        proba = self.pipeline.predict_proba(X)
        # A class absent from the training windows gets probability 0, not a missing column.
        out = np.zeros((len(X), N_CLASSES))
        out[:, self.pipeline.classes_.astype(int)] = proba
        return out

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        skops.io.dump(self.pipeline, directory / SKOPS_FILE)
        deterministic_zip(directory / SKOPS_FILE)
        write_meta(directory, self._meta(self.family, T=self.T, F=self.F, file=SKOPS_FILE,
                                         channels=list(self.channels)))

    def _restore(self, directory: Path) -> None:
        path = Path(directory) / SKOPS_FILE
        untrusted = skops.io.get_untrusted_types(file=path)
        refused = [t for t in untrusted if t not in TRUSTED_TYPES]
        if refused:
            raise ValueError(f"{path}: refusing to load untrusted types {refused}")
        self.pipeline = skops.io.load(path, trusted=untrusted)
