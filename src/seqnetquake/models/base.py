"""The model API every stage codes against: a :class:`Classifier` and one :class:`ModelSpec` per
model (builder + Hyperopt search space) in the single table ``seqnetquake.models.MODELS``
(models/table.py, which also loads a saved classifier).

A classifier takes raw windows exactly as stored in the npz files (float32 ``(N, T, F)``,
unscaled Ne cm^-3 and Te K) and returns probabilities of the three classes; its scaling is
fitted on the training windows and saved with it, so a registered model needs nothing else.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from seqnetquake.windowset import WindowSet

META_FILE = "classifier.json"
META_VERSION = 1


@dataclass
class FitResult:
    """What one ``fit``/``fine_tune`` did: epochs run (1 for scikit-learn), wall time, history."""

    epochs: int
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)


class Classifier(abc.ABC):
    """A three-class window classifier with its input scaling inside."""

    name: str
    hyperparams: dict[str, Any]

    @abc.abstractmethod
    def fit(
        self, train: WindowSet, val: WindowSet, *, max_epochs: int, patience: int, seed: int
    ) -> FitResult:
        """Train from scratch; Keras models stop early on ``val`` loss and keep the best epoch."""

    @abc.abstractmethod
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Raw float32 (N, T, F) windows -> (N, 3) class probabilities."""

    @abc.abstractmethod
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
        """Continue training all layers on new data (the paper's DEMETER -> CSES transfer)."""

    @abc.abstractmethod
    def save(self, directory: Path) -> None:
        """Write the model and a small ``classifier.json`` saying how to load it."""

    @abc.abstractmethod
    def _restore(self, directory: Path) -> None:
        """Replace this (freshly built) classifier's model by the one saved in ``directory``."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable class per window."""
        return np.asarray(self.predict_proba(X)).argmax(axis=1)

    def _meta(self, family: str, **extra: Any) -> dict[str, Any]:
        return {
            "format_version": META_VERSION,
            "family": family,
            "name": self.name,
            "hyperparams": self.hyperparams,
            **extra,
        }


@dataclass(frozen=True)
class ModelSpec:
    """One row of the model table: how to build a model and where Hyperopt searches.

    ``build(hyperparams, T, F)`` returns an unfitted classifier for windows of T x F.
    ``space`` is this project's search space (the authors' with early stopping instead of a
    searched epoch count); ``authors_space`` the authors' published one (PAPER_NOTES), kept
    for the benchmark of their protocol.
    """

    name: str
    family: Literal["keras", "sklearn", "rule"]
    space: dict[str, Any]
    build: Callable[[dict[str, Any], int, int], Classifier]
    authors_space: dict[str, Any] | None = None


def write_meta(directory: Path, meta: dict[str, Any]) -> None:
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
