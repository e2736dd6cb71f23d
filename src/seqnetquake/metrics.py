"""Metrics of a model's predictions, which tuning, training, evaluation, the study and the
benchmark all compute the same way; and the one JSON-safe conversion of their results.

- Window level (``window_metrics``): weighted F1, multiclass MCC, accuracy, one-vs-rest AUC.
- Event level (``event_scores``, ``earthquake_metrics``): the authors' earthquake-level metrics
  (``tools/utils.py``, PAPER_NOTES.md) with the threshold chosen on validation (evaluate.py's
  docstring says why), and a label-free alarm rule beside them.
- Event-bootstrap intervals (``event_bootstrap``). Windows of one event are not independent (one
  event labels many passes, one M8 can own half of a class), so intervals resample events, not
  windows. Everything is computed from per-event confusion matrices, so B bootstrap replicates
  cost one matrix product, not B metric calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    auc,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

from seqnetquake.contracts import ARTIFICIAL_ID_PREFIX, N_CLASSES
from seqnetquake.predictions import Predictions

HEADLINE = ("mcc", "f1_weighted", "accuracy")
# The authors' threshold grid: 0.70, 0.71, ..., 0.99 (rounded so 0.7 + k * 0.01 is exact).
EQ_THRESHOLDS = np.round(np.arange(0.70, 1.00, 0.01), 2)


# --------------------------------------------------------------------------- window level
def class_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Accuracy, weighted F1 and multiclass MCC of predicted classes."""
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "f1_weighted": float(f1_score(y, pred, average="weighted", zero_division=0)),
        "mcc": float(matthews_corrcoef(y, pred)),
    }


def window_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Weighted F1, multiclass MCC, accuracy and one-vs-rest ROC AUC per class.

    The predicted class is the arg-max of the probabilities. AUC is NaN for a class that is
    absent from ``y`` (one-vs-rest AUC needs both positives and negatives).
    """
    y = np.asarray(y, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    out = {**class_metrics(y, proba.argmax(axis=1)), "n_windows": float(len(y))}
    for k in range(N_CLASSES):
        positive = y == k
        out[f"auc_class{k}"] = (
            float(roc_auc_score(positive, proba[:, k]))
            if 0 < positive.sum() < len(y) else math.nan
        )
    return out


@dataclass(frozen=True)
class ConfusionTables:
    counts: np.ndarray  # (3, 3): rows = true class, columns = predicted class
    row_pct: np.ndarray  # share of each true class predicted as each class (recall on diag)
    col_pct: np.ndarray  # share of each predicted class that is each true class (precision)


def confusion_tables(y: np.ndarray, pred: np.ndarray) -> ConfusionTables:
    """Counts with row and column percentages, as the paper's confusion figures show them."""
    counts = confusion_matrix(y, pred, labels=list(range(N_CLASSES)))
    with np.errstate(invalid="ignore", divide="ignore"):
        row = 100.0 * counts / counts.sum(axis=1, keepdims=True)
        col = 100.0 * counts / counts.sum(axis=0, keepdims=True)
    return ConfusionTables(counts, np.nan_to_num(row), np.nan_to_num(col))


# --------------------------------------------------------------------------- earthquake level
def event_scores(y: np.ndarray, proba: np.ndarray, event_id: np.ndarray) -> pd.DataFrame:
    """One row per event: label (1 real, 0 artificial), share of its windows right, mean P(seismic).

    Like the authors' groupby over (EQ_LABELS, EQ_NUM), every window that an event labelled
    counts, storm windows included (right when predicted 2). Windows with no event are left
    out. The event's label comes from its id: artificial events are ``art-...``.
    """
    event_id = np.asarray(event_id).astype(str)
    keep = event_id != ""
    proba = np.asarray(proba, dtype=np.float64)[keep]
    frame = pd.DataFrame({"event_id": event_id[keep],
                          "correct": np.asarray(y)[keep] == proba.argmax(axis=1),
                          "p_seismic": proba[:, 1] if len(proba) else np.zeros(0)})
    grouped = frame.groupby("event_id", sort=True).agg(
        score=("correct", "mean"), p_seismic=("p_seismic", "mean"),
        n_windows=("correct", "size"))
    return pd.DataFrame({
        "event_id": grouped.index.to_numpy(),
        "label": (~grouped.index.str.startswith(ARTIFICIAL_ID_PREFIX)).astype(np.int64),
        "score": grouped["score"].to_numpy(dtype=np.float64),
        "p_seismic": grouped["p_seismic"].to_numpy(dtype=np.float64),
        "n_windows": grouped["n_windows"].to_numpy(dtype=np.int64),
    })


@dataclass(frozen=True)
class EventRule:
    """How an event is called from its score at a threshold, and on which grid t is searched.

    ``authors``: the event keeps its true label if the share of its windows classified right
    is >= t, else it flips (``tools/utils.py``). It needs the true label to make the call, and
    raising t only turns right calls into wrong ones, so event-level MCC never increases with
    t and the search always returns the grid's first value, 0.70 (see the tests).
    ``alarm`` (ours): an event is called real when the mean P(seismic) of its windows is >= t;
    label-free, so t is a real operating point and choosing it on validation matters.
    """

    prefix: str
    column: str
    grid: np.ndarray

    def call(self, label: np.ndarray, score: np.ndarray, threshold: float) -> np.ndarray:
        hit = np.asarray(score) >= threshold
        if self.prefix == "eq":
            label = np.asarray(label, dtype=np.int64)
            return np.where(hit, label, 1 - label)
        return hit.astype(np.int64)


AUTHORS_RULE = EventRule("eq", "score", EQ_THRESHOLDS)
ALARM_RULE = EventRule("eqa", "p_seismic", np.round(np.arange(0.05, 1.00, 0.01), 2))


def choose_threshold(events: pd.DataFrame, rule: EventRule = AUTHORS_RULE) -> float:
    """The grid threshold maximising event-level MCC on ``events`` (the first one on ties)."""
    label, score = events["label"].to_numpy(), events[rule.column].to_numpy()
    mccs = [matthews_corrcoef(label, rule.call(label, score, t)) for t in rule.grid]
    return float(rule.grid[int(np.argmax(mccs))])


def earthquake_metrics(
    events: pd.DataFrame, threshold: float, rule: EventRule = AUTHORS_RULE
) -> dict[str, float]:
    """Event-level metrics at a threshold chosen beforehand (on validation).

    The authors' EQ_MCC, EQ_F1, EQ_Accuracy, EQ_Precision, EQ_Sensitivity, EQ_PR_AUC,
    EQ_ROC_AUC. Under the authors' rule both AUCs rank events by the share of their windows
    classified right, as in their code: they say how much better real events are recognised
    than artificial ones, not how well the two are told apart (the alarm rule's AUCs do that).
    """
    label, score = events["label"].to_numpy(), events[rule.column].to_numpy()
    pred = rule.call(label, score, threshold)
    if 0 < label.sum() < len(label):
        precision, recall, _ = precision_recall_curve(label, score)
        pr_auc, roc = float(auc(recall, precision)), float(roc_auc_score(label, score))
    else:
        pr_auc = roc = math.nan
    p = rule.prefix
    return {
        f"{p}_threshold": float(threshold),
        f"{p}_mcc": float(matthews_corrcoef(label, pred)),
        f"{p}_f1": float(f1_score(label, pred, zero_division=0)),
        f"{p}_accuracy": float(accuracy_score(label, pred)),
        f"{p}_precision": float(precision_score(label, pred, zero_division=0)),
        f"{p}_sensitivity": float(recall_score(label, pred, zero_division=0)),
        f"{p}_pr_auc": pr_auc,
        f"{p}_roc_auc": roc,
        f"{p}_n_events": float(len(label)),
    }


# --------------------------------------------------------------------------- a model's predictions
def all_metrics(pred: Predictions) -> dict[str, float]:
    """Window metrics on test and the EQ metrics with the threshold picked on validation."""
    metrics = window_metrics(pred.y, pred.proba)
    val_events = event_scores(pred.y_val, pred.proba_val, pred.event_id_val)
    test_events = event_scores(pred.y, pred.proba, pred.event_id)
    if len(val_events) and len(test_events):
        for rule in (AUTHORS_RULE, ALARM_RULE):
            threshold = choose_threshold(val_events, rule)  # never on the test events
            metrics.update(earthquake_metrics(test_events, threshold, rule))
    return metrics


def headline_metrics(pred: Predictions, n_samples: int = 1000,
                     seed: int = 0) -> dict[str, float]:
    """Test mcc, f1_weighted, accuracy with event-bootstrap ``_ci_low``/``_ci_high``, and the
    event-weighted ``*_ew`` variants with theirs (the reports/metrics.json entry of a model)."""
    hard = np.asarray(pred.proba).argmax(axis=1)
    out = event_bootstrap(pred.y, hard, pred.event_id, n_samples=n_samples, seed=seed)
    weighted = event_bootstrap(pred.y, hard, pred.event_id, n_samples=n_samples, seed=seed,
                               event_weighted=True)
    for key, value in weighted.items():
        name, _, ci = key.partition("_ci_")
        out[f"{name}_ew" + (f"_ci_{ci}" if ci else "")] = value
    return out


HEADLINE_KEYS = tuple(f"{name}{variant}{ci}" for variant in ("", "_ew") for name in HEADLINE
                      for ci in ("", "_ci_low", "_ci_high"))


# --------------------------------------------------------------------------- event bootstrap
def event_confusions(
    y: np.ndarray, pred: np.ndarray, event_id: np.ndarray, n_classes: int = N_CLASSES,
    event_weighted: bool = False,
) -> np.ndarray:
    """(n_events, C, C) confusion counts per event (rows true, columns predicted).

    Windows with no event (``""``) form one pseudo-event each, so they still count. With
    ``event_weighted`` each event's matrix sums to 1 (its windows weighted 1/n).
    """
    y = np.asarray(y, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    ids = np.asarray(event_id).astype(str)
    ids = np.where(ids == "", np.char.add("window-", np.arange(len(ids)).astype(str)), ids)
    _, group = np.unique(ids, return_inverse=True)
    n_events = int(group.max()) + 1 if len(group) else 0
    cm = np.zeros((n_events, n_classes, n_classes))
    np.add.at(cm, (group, y, pred), 1.0)
    if event_weighted and n_events:
        cm /= cm.sum(axis=(1, 2), keepdims=True)
    return cm


def metrics_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Multiclass MCC (Gorodkin), weighted F1 and accuracy of (..., C, C) confusion matrices."""
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum(axis=(-2, -1))
    correct = np.trace(cm, axis1=-2, axis2=-1)
    true_k = cm.sum(axis=-1)  # support per true class
    pred_k = cm.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = correct / total
        cov_xy = correct * total - (true_k * pred_k).sum(axis=-1)
        cov_xx = total**2 - (pred_k**2).sum(axis=-1)
        cov_yy = total**2 - (true_k**2).sum(axis=-1)
        denom = np.sqrt(cov_xx * cov_yy)
        mcc = np.where(denom > 0, cov_xy / np.where(denom > 0, denom, 1.0), 0.0)
        diag = np.diagonal(cm, axis1=-2, axis2=-1)
        f1_k = np.where(true_k + pred_k > 0, 2 * diag / np.where(true_k + pred_k > 0,
                                                                   true_k + pred_k, 1.0), 0.0)
        f1_weighted = (f1_k * true_k).sum(axis=-1) / total
    return {"mcc": mcc, "f1_weighted": f1_weighted, "accuracy": accuracy}


def event_resample_counts(n_events: int, n_samples: int, seed: int) -> np.ndarray:
    """(n_samples, n_events): how often each event is drawn in each bootstrap replicate.

    Summing per-event counts with these weights resamples whole events, never windows; the
    same seed draws the same events for every caller (so two models can be paired).
    """
    return np.random.default_rng(seed).multinomial(
        n_events, np.full(n_events, 1.0 / n_events), size=n_samples)


def percentile_interval(boot: np.ndarray, level: float, axis: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` percentile interval of bootstrap replicates (NaN ignored)."""
    tail = 100 * (1 - level) / 2
    low, high = (np.nanpercentile(boot, q, axis=axis) for q in (tail, 100 - tail))
    return low, high


def event_bootstrap(
    y: np.ndarray, pred: np.ndarray, event_id: np.ndarray, *, n_samples: int = 1000,
    seed: int = 0, level: float = 0.95, event_weighted: bool = False,
) -> dict[str, float]:
    """Point values and percentile intervals of MCC, weighted F1 and accuracy.

    Returns ``{metric, metric_ci_low, metric_ci_high}`` for each headline metric; with
    ``event_weighted`` the point values weight each event's windows 1/n. The same seed gives
    the same intervals.
    """
    cm = event_confusions(y, pred, event_id, event_weighted=event_weighted)
    point = metrics_from_confusion(cm.sum(axis=0))
    out: dict[str, float] = {name: float(point[name]) for name in HEADLINE}
    n_events = len(cm)
    if n_events < 2 or n_samples < 1:
        for name in HEADLINE:
            out[f"{name}_ci_low"] = out[f"{name}_ci_high"] = float("nan")
        return out
    counts = event_resample_counts(n_events, n_samples, seed)
    boot = metrics_from_confusion(np.einsum("be,eij->bij", counts, cm))
    for name in HEADLINE:
        low, high = percentile_interval(boot[name], level)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(low), float(high)
    return out


def paired_event_bootstrap(
    y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, event_id: np.ndarray, *,
    n_samples: int = 1000, seed: int = 0, level: float = 0.95,
) -> dict[str, float]:
    """MCC(a) - MCC(b) on the same windows, each resample drawing the same events for both.

    Two models' separate intervals overlap long before their difference is in doubt (what the
    events share moves both); resampling them together is the test of "a beats b". Returns
    ``mcc_diff``, its percentile interval, ``share_above_0`` (resamples where a wins) and
    ``n_events``.
    """
    cm_a = event_confusions(y, pred_a, event_id)  # np.unique order: the same events as b
    cm_b = event_confusions(y, pred_b, event_id)
    n_events = len(cm_a)
    diff = float(metrics_from_confusion(cm_a.sum(axis=0))["mcc"]
                 - metrics_from_confusion(cm_b.sum(axis=0))["mcc"])
    out = {"mcc_diff": diff, "mcc_diff_ci_low": float("nan"), "mcc_diff_ci_high": float("nan"),
           "share_above_0": float("nan"), "n_events": n_events}
    if n_events < 2 or n_samples < 1:
        return out
    counts = event_resample_counts(n_events, n_samples, seed)
    boot = (metrics_from_confusion(np.einsum("be,eij->bij", counts, cm_a))["mcc"]
            - metrics_from_confusion(np.einsum("be,eij->bij", counts, cm_b))["mcc"])
    low, high = percentile_interval(boot, level)
    out.update(mcc_diff_ci_low=float(low), mcc_diff_ci_high=float(high),
               share_above_0=float(np.mean(boot > 0)))
    return out


def format_ci(value: float, low: float, high: float, digits: int = 2) -> str:
    """``0.41 [0.33, 0.49]``, as every table prints an interval."""
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


# --------------------------------------------------------------------------- JSON
def json_safe(obj: Any, *, digits: int | None = None, skip_private: bool = False) -> Any:
    """``obj`` as values JSON holds: NaN and infinities -> None (DVC and JSON readers reject
    them), NumPy scalars and arrays -> Python numbers and lists; mappings (keys as str), lists
    and tuples recursively. ``digits`` rounds floats; ``skip_private`` leaves out keys starting
    with ``_`` (in-memory extras such as frames)."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v, digits=digits, skip_private=skip_private)
                for k, v in obj.items() if not (skip_private and str(k).startswith("_"))}
    if isinstance(obj, list | tuple):
        return [json_safe(v, digits=digits, skip_private=skip_private) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist(), digits=digits, skip_private=skip_private)
    if isinstance(obj, bool | np.bool_):  # before int: a bool is an int
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        if not math.isfinite(value):
            return None
        return value if digits is None else round(value, digits)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def without_nan(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics MLflow is given: NaN (an AUC without both classes) and None left out."""
    return {k: v for k, v in metrics.items() if v is not None and v == v}
