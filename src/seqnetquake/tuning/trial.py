"""One trial of a search, and what a search is: the pieces both backends share.

A trial builds, fits and scores one hyper-parameter set (:func:`evaluate_params`); its loss is
minus the weighted F1 on the validation windows (:func:`score`, the window metrics of
``seqnetquake.metrics``). A :class:`Search` holds everything one search needs, whichever
backend runs its trials (tuning/tpe.py: one after another here; tuning/backends.py: Spark).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hyperopt import space_eval

from seqnetquake.metrics import class_metrics, json_safe
from seqnetquake.tracking import flatten
from seqnetquake.windowset import WindowSet

SCORES = ("f1_weighted", "mcc", "accuracy")  # the order trial results hold them in


def score(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Weighted F1 (the search's objective), multiclass MCC and accuracy."""
    metrics = class_metrics(y_true, np.asarray(proba).argmax(axis=1))
    return {name: metrics[name] for name in SCORES}


def evaluate_params(
    spec: Any,
    params: dict[str, Any],
    train: WindowSet,
    val: WindowSet,
    *,
    max_epochs: int,
    patience: int,
    seed: int,
) -> dict[str, Any]:
    """Build, fit and score one hyper-parameter set: the body of one trial."""
    start = time.perf_counter()
    clf = spec.build(params, train.T, train.F)
    fit = clf.fit(train, val, max_epochs=max_epochs, patience=patience, seed=seed)
    metrics = score(val.y, clf.predict_proba(val.X))
    return {
        "loss": -metrics["f1_weighted"],
        **metrics,
        "epochs": int(fit.epochs),
        "seconds": time.perf_counter() - start,
        "history": fit.history,
    }


def log_trial(index: int | None, params: dict[str, Any], result: dict[str, Any],
              name: str) -> None:
    """Everything about one trial into the active (nested) MLflow run (``index`` None: a Spark
    worker, which cannot know it; the driver tags the run afterwards)."""
    import mlflow  # deferred: heavy
    from mlflow.entities import Metric

    mlflow.set_tags({"model": name, **({"trial": str(index)} if index is not None else {})})
    mlflow.log_params({k: str(v)[:6000] for k, v in flatten(params).items()})
    mlflow.log_metrics(
        {
            "loss": result["loss"],
            "val_f1_weighted": result["f1_weighted"],
            "val_mcc": result["mcc"],
            "val_accuracy": result["accuracy"],
            "epochs": result["epochs"],
            "duration_s": result["seconds"],
        }
    )
    now = int(time.time() * 1000)
    curves = [
        Metric(f"epoch_{key}", float(v), now, step)
        for key, values in result["history"].items()
        for step, v in enumerate(values)
    ]
    if curves:
        run_id = mlflow.active_run().info.run_id
        mlflow.MlflowClient().log_batch(run_id, metrics=curves)


def no_progress(trials: Any, rounds: int | None) -> bool:
    """True when the best loss has not improved in the last ``rounds`` trials.

    A pure function of the trials (unlike hyperopt's ``no_progress_loss`` closure), so a
    resumed search stops exactly where an uninterrupted one would.
    """
    if not rounds:
        return False
    losses = [r["loss"] for r in trials.results if r.get("status") == "ok"]
    return bool(losses) and len(losses) - 1 - int(np.argmin(losses)) >= rounds


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class SearchResult:
    best_params: dict[str, Any]
    best_loss: float
    n_trials: int  # finished trials in ``trials``, old and new
    n_new: int  # trials computed by this call
    seconds: float  # wall time of this call
    trials: Any  # hyperopt.Trials


@dataclass
class Search:
    """One TPE search over ``space`` up to ``max_evals`` trials in total (tuning.search's
    arguments, settled): ``trials`` carries earlier trials to resume from; ``on_trial`` is
    called with the trials after each finished one (to persist them); with ``nested_runs`` each
    trial is a nested MLflow run under the active run, tagged ``trial_tags``;
    ``no_progress_evals`` stops the search once that many trials in a row have not improved
    the best loss."""

    spec: Any
    train: WindowSet
    val: WindowSet
    max_evals: int
    seed: int
    max_epochs: int
    patience: int
    space: dict[str, Any]
    trials: Any  # hyperopt.Trials
    nested_runs: bool = False
    no_progress_evals: int | None = None
    on_trial: Callable[[Any], None] | None = None
    log: Callable[[str], None] = to_stderr
    trial_tags: dict[str, str] | None = None
    start: float = field(default_factory=time.perf_counter)

    @property
    def fit(self) -> dict[str, int]:
        """How each trial fits (evaluate_params' keywords)."""
        return {"max_epochs": self.max_epochs, "patience": self.patience, "seed": self.seed}

    def stopped(self, trials: Any) -> bool:
        return no_progress(trials, self.no_progress_evals)

    def result(self, trials: Any, n_start: int) -> SearchResult:
        """The outcome once ``trials`` (``n_start`` of them from before) is final."""
        return SearchResult(
            best_params=json_safe(space_eval(self.space, trials.argmin)),
            best_loss=float(trials.best_trial["result"]["loss"]),
            n_trials=len(trials.trials),
            n_new=len(trials.trials) - n_start,
            seconds=time.perf_counter() - self.start,
            trials=trials,
        )
