"""Serving: the pyfunc face of a trained classifier, logging it to MLflow, scoring with it.

Registered models take windows exactly as stored in the npz files (float32 N x T x F in the
channels ``windows.features`` names: log ratios to the quiet-time reference less their
along-track trend, ``ne_detr``, ``te_detr``, in the embedded default, unscaled Ne cm^-3 and
Te K for the paper's raw ``ne_cm3``, ``te_k``) and return class probabilities (N x 3): the
classifier's scaling is inside it (``seqnetquake.models``), and the package's code travels
with the model (``code_paths``), so
``mlflow.pyfunc.load_model("models:/seqnetquake-cses@champion")`` needs nothing else.
The model is logged from code: MLflow runs ``pyfunc_model.py`` (which sets
:class:`ClassifierModel`) at load time. Registration and the champion alias:
:mod:`seqnetquake.registry`.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import Schema, TensorSpec
from packaging.requirements import Requirement

from seqnetquake.contracts import CLASS_NAMES
from seqnetquake.errors import InputError
from seqnetquake.windowcheck import check_windows

ARTIFACT_KEY = "classifier"
PACKAGE_DIR = Path(__file__).resolve().parent
# What a served model needs at run time (versions from this package's own pins).
RUNTIME_REQUIREMENTS = ("tensorflow-cpu", "keras", "scikit-learn", "skops", "numpy", "pandas",
                        "pydantic", "PyYAML", "mlflow")

DEFAULT_CHANNELS = ("ne_cm3", "te_k")  # models logged before channels were recorded


# --------------------------------------------------------------------------- the pyfunc model
class InvalidWindows(MlflowException):
    """Windows refused before predicting: HTTP 400 through ``mlflow models serve``.

    MLflow's scoring server prefixes an exception's message with the whole request
    (``Failed to predict data '<array>'``); the message here stays the one-line reason.
    """

    def __init__(self, reason: str):
        self._reason = reason.splitlines()[0] if reason else "invalid input"
        super().__init__(self._reason, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        return self._reason

    @message.setter
    def message(self, value: str) -> None:  # the server's prefixing is ignored on purpose
        pass


class ClassifierModel(mlflow.pyfunc.PythonModel):
    """pyfunc face of a saved :class:`~seqnetquake.models.Classifier`: windows in its channels
    in, probabilities of the three classes out. Windows are checked first
    (:func:`seqnetquake.windowcheck.check_windows`): a NaN (any channel) or a Te of -1000 K (a
    physical channel) is refused with a one-line reason naming the channel, never turned into
    probabilities."""

    def load_context(self, context: Any) -> None:
        # deferred: heavy (importing seqnetquake.models imports TensorFlow)
        from seqnetquake.models import load_classifier
        from seqnetquake.models.base import META_FILE

        directory = Path(context.artifacts[ARTIFACT_KEY])
        self.classifier = load_classifier(directory)
        config = dict(getattr(context, "model_config", None) or {})
        meta = json.loads((directory / META_FILE).read_text())
        self.T = int(config.get("T", meta["T"]))
        self.channels = tuple(config.get("channels") or DEFAULT_CHANNELS[: int(meta["F"])])

    def predict(
        self, context: Any, model_input: np.ndarray, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        try:
            X = np.asarray(model_input, dtype=np.float32)
            check_windows(X, T=self.T, channels=self.channels, source="input")
        except InputError as exc:
            raise InvalidWindows(str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise InvalidWindows(f"input: X: not a numeric (windows, {self.T}, "
                                 f"{len(self.channels)}) array: {exc}") from None
        return np.asarray(self.classifier.predict_proba(X), dtype=np.float32)


# --------------------------------------------------------------------------- logging
def _requirements() -> list[str]:
    """Pinned runtime requirements, read from this package's metadata (one place for pins)."""
    try:
        declared = metadata.requires("seqnetquake") or []
    except metadata.PackageNotFoundError:
        return list(RUNTIME_REQUIREMENTS)
    wanted = {n.lower() for n in RUNTIME_REQUIREMENTS}
    return [r for r in declared
            if "extra ==" not in r and Requirement(r).name.lower() in wanted]


def log_classifier(classifier_dir: Path, X_example: np.ndarray, name: str = "model",
                   channels: tuple[str, ...] | list[str] = DEFAULT_CHANNELS,
                   half_orbit: str | None = None,
                   background: dict[str, Any] | None = None) -> Any:
    """Log a saved classifier as an MLflow pyfunc model in the active run; return ModelInfo.

    The signature says float32 windows of any shape, so that a wrong T or channel count reaches
    the model's own check (one line naming the channels) instead of MLflow's schema error;
    T, the channel names and the half-orbit are in the model's metadata (UI, ``score``) and
    model_config (the check). ``background`` (the ``background`` params of a residual-channel
    model) is recorded in the metadata too, so that ``score`` rebuilds the same reference.
    """
    from seqnetquake.models import load_classifier  # deferred: heavy (TensorFlow)

    X_example = np.asarray(X_example[:8], dtype=np.float32)
    proba = np.asarray(load_classifier(classifier_dir).predict_proba(X_example), np.float32)
    T, channels = int(X_example.shape[1]), [str(c) for c in channels]
    info = {"T": T, "channels": channels} | ({"half_orbit": half_orbit} if half_orbit else {})
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, -1, -1))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, proba.shape[1]))]),
    )
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(PACKAGE_DIR / "pyfunc_model.py"),
        artifacts={ARTIFACT_KEY: str(classifier_dir)},
        signature=signature,
        input_example=X_example[:2],
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=_requirements(),
        model_config=info,
        metadata=info | ({"background": background} if background else {})
        | {"input": f"float32 (windows, {T}, {len(channels)}) {', '.join(channels)}",
           "output": "probabilities of non-seismic, seismic, storm"},
    )


# --------------------------------------------------------------------------- scoring
def predict_windows(model_uri: str, X: np.ndarray) -> np.ndarray:
    """Probabilities (N x 3) of raw windows from a model URI (``models:/NAME@champion``)."""
    model = mlflow.pyfunc.load_model(model_uri)
    return np.asarray(model.predict(np.asarray(X, dtype=np.float32)))


def class_table(proba: np.ndarray, y: np.ndarray | None = None) -> pd.DataFrame:
    """Per class: windows predicted, share, mean probability; with labels, true count and
    recall/precision."""
    pred = proba.argmax(axis=1)
    rows = []
    for k, label in enumerate(CLASS_NAMES):
        row = {"class": k, "name": label, "predicted": int((pred == k).sum()),
               "share": float((pred == k).mean()) if len(pred) else 0.0,
               "mean_proba": float(proba[:, k].mean()) if len(pred) else 0.0}
        if y is not None:
            true = y == k
            hit = int((true & (pred == k)).sum())
            row |= {"true": int(true.sum()),
                    "recall": hit / true.sum() if true.any() else float("nan"),
                    "precision": hit / (pred == k).sum() if (pred == k).any() else float("nan")}
        rows.append(row)
    return pd.DataFrame(rows)
