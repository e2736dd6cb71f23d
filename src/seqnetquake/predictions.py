"""What the training stages hand to evaluation: ``predictions.npz`` and where it lies.

Training writes one :class:`Predictions` per model (``models/<stage>/predictions.npz``,
``models/baselines/<name>/predictions.npz``); evaluation, the benchmark and the study read them
back through this module, so none of them imports another stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqnetquake.contracts import PREDICTIONS_FILE

# Training stages in the reports: key in metrics.json (= directory under models/) -> display name.
STAGE_MODELS = {"base": "SeqNetQuake (IT, DEMETER)", "transfer": "SeqNetQuake-TL",
                "direct": "SeqNetQuake (DT)"}
BASELINE_NAMES = {"gbm": "GBM", "dnn": "DNN", "rf": "RF", "cnn": "CNN", "lstm": "LSTM",
                  "classical": "Classical (k MAD)"}


@dataclass(frozen=True)
class Predictions:
    """What a training stage writes to ``predictions.npz``: test and validation scores."""

    proba: np.ndarray
    y: np.ndarray
    event_id: np.ndarray
    t0: np.ndarray
    proba_val: np.ndarray
    y_val: np.ndarray
    event_id_val: np.ndarray

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **{k: np.asarray(v) for k, v in self.__dict__.items()})

    @classmethod
    def load(cls, path: str | Path) -> Predictions:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def stage_predictions(models_dir: Path) -> dict[str, Any]:
    """{"base": path, ..., "baselines": {"gbm": path, ...}} for every predictions.npz found."""
    found: dict[str, Any] = {}
    for key in STAGE_MODELS:
        path = models_dir / key / PREDICTIONS_FILE
        if path.exists():
            found[key] = path
    baselines = sorted((models_dir / "baselines").glob(f"*/{PREDICTIONS_FILE}"))
    if baselines:
        found["baselines"] = {p.parent.name: p for p in baselines}
    return found
