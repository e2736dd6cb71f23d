"""The classical detector: thresholds on residuals, the field's statistical method, as a model.

DEMETER/Swarm statistical studies flag a pass when its residual against a quiet-time
reference exceeds k times the median absolute deviation (MAD) over a stretch of track. As a
seventh classifier, on windows:

- every channel is standardised robustly on the training windows: (x - median) / (1.4826 MAD),
  after log10 for the raw ``ne_cm3``/``te_k`` (residual channels are already logarithmic; for
  ``*_z`` channels this is close to the identity);
- class 2 (storm) when the window's median standardised Te exceeds ``k_storm``: a storm heats
  the topside along the whole pass (+300 K at night, +600 K by day in the simulator, the
  observed sign), while a precursor's Te change is a fraction of its Ne change with either
  sign. It uses the window's own Te, not Kp: the windows carry no Kp, and a detector that read
  Kp would be reading the label's definition;
- class 1 (seismic) when |standardised Ne| exceeds ``k`` on at least ``m`` consecutive
  samples (Te channels when there is no Ne channel);
- class 0 otherwise.

k, m and k_storm are tuned by Hyperopt on validation like every other model (SPACE). The
probabilities are a softmax of margins whose arg-max is exactly the rule, so ROC curves and
event scores have a continuous score. Saved as JSON only (classifier.json), no pickle.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from hyperopt import hp
from hyperopt.pyll import scope

from seqnetquake.contracts import N_CLASSES
from seqnetquake.models.base import META_FILE, Classifier, FitResult, ModelSpec, write_meta
from seqnetquake.windowcheck import check_windows
from seqnetquake.windowset import DEFAULT_CHANNELS, WindowSet

MAD_TO_SIGMA = 1.4826
RAW = ("ne_cm3", "te_k")


def longest_run(mask: np.ndarray) -> np.ndarray:
    """Length of the longest run of True along axis 1 of a (N, T) boolean array."""
    n, T = mask.shape
    run = np.zeros(n, dtype=np.int64)
    best = np.zeros(n, dtype=np.int64)
    for t in range(T):  # T is 10-50: a loop over time, vectorised over windows
        run = np.where(mask[:, t], run + 1, 0)
        best = np.maximum(best, run)
    return best


class ClassicalDetector(Classifier):
    family = "rule"

    def __init__(self, hyperparams: dict[str, Any], T: int, F: int):
        self.name = "classical"
        self.hyperparams = dict(hyperparams)
        self.T, self.F = int(T), int(F)
        self.channels: tuple[str, ...] = DEFAULT_CHANNELS
        self.centre = np.zeros(self.F)
        self.scale = np.ones(self.F)

    def _log(self, X: np.ndarray) -> np.ndarray:
        check_windows(X, T=self.T, channels=list(self.channels))
        X = np.asarray(X, dtype=np.float64)
        out = X.copy()
        for k, name in enumerate(self.channels):
            if name in RAW:
                out[..., k] = np.log10(np.maximum(out[..., k], 1.0))
        return out

    def standardise(self, X: np.ndarray) -> np.ndarray:
        return (self._log(X) - self.centre) / self.scale

    def fit(
        self, train: WindowSet, val: WindowSet, *, max_epochs: int, patience: int, seed: int
    ) -> FitResult:
        start = time.perf_counter()
        self.channels = tuple(train.channels)
        values = self._log(train.X).reshape(-1, self.F)
        self.centre = np.median(values, axis=0)
        mad = np.median(np.abs(values - self.centre), axis=0)
        self.scale = MAD_TO_SIGMA * np.maximum(mad, 1e-6)
        return FitResult(epochs=1, seconds=time.perf_counter() - start, history={})

    def fine_tune(self, *args: Any, **kwargs: Any) -> FitResult:
        raise NotImplementedError("classical: a threshold rule is re-fitted, not fine-tuned")

    def _channel_groups(self) -> tuple[list[int], list[int]]:
        ne = [k for k, c in enumerate(self.channels) if c.startswith("ne")]
        te = [k for k, c in enumerate(self.channels) if c.startswith("te")]
        return (ne or te or list(range(self.F))), te

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = self.standardise(X)
        if len(z) == 0:
            return np.zeros((0, N_CLASSES))
        k, m = float(self.hyperparams["k"]), int(self.hyperparams["m"])
        k_storm = float(self.hyperparams["k_storm"])
        ne, te = self._channel_groups()
        run = longest_run((np.abs(z[:, :, ne]) > k).any(axis=2))
        margin1 = run - m + 0.5  # > 0 exactly when the rule fires
        storm_stat = (np.median(z[:, :, te], axis=1).max(axis=1) if te
                      else np.full(len(z), -np.inf))
        margin2 = storm_stat - k_storm
        logits = np.zeros((len(z), N_CLASSES))
        logits[:, 1] = margin1
        # storm wins when it fires: above the seismic margin by at least 1
        logits[:, 2] = np.where(margin2 > 0, np.maximum(margin1, 0) + 1 + margin2,
                                np.minimum(margin2, -1e-3))
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(np.clip(logits, -50, 0))
        return p / p.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_meta(directory, self._meta(self.family, T=self.T, F=self.F, file=META_FILE,
                                         channels=list(self.channels),
                                         centre=[float(v) for v in self.centre],
                                         scale=[float(v) for v in self.scale]))

    def _restore(self, directory: Path) -> None:
        meta = json.loads((Path(directory) / META_FILE).read_text())
        self.channels = tuple(meta["channels"])
        self.centre = np.asarray(meta["centre"], dtype=np.float64)
        self.scale = np.asarray(meta["scale"], dtype=np.float64)
        if self.centre.shape != (self.F,) or self.scale.shape != (self.F,):
            raise ValueError(f"{Path(directory) / META_FILE}: centre/scale do not match F")


def build(hyperparams: dict[str, Any], T: int, F: int) -> ClassicalDetector:
    return ClassicalDetector(hyperparams, T, F)


SPACE: dict[str, Any] = {
    "k": hp.uniform("k", 1.0, 6.0),
    "m": scope.int(hp.quniform("m", 1, 20, 1)),
    "k_storm": hp.uniform("k_storm", 0.5, 6.0),
}

SPEC = ModelSpec(name="classical", family="rule", space=SPACE, build=build, authors_space=SPACE)
