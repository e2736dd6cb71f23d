"""Event-bootstrap intervals for window metrics.

Windows of one event are not independent (one event labels many passes, one M8 can own half of
a class), so intervals resample events, not windows. Everything is computed from per-event
confusion matrices, so B bootstrap replicates cost one matrix product, not B metric calls.
"""

from __future__ import annotations

import numpy as np

N_CLASSES = 3
HEADLINE = ("mcc", "f1_weighted", "accuracy")


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
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_events, np.full(n_events, 1.0 / n_events), size=n_samples)
    boot = metrics_from_confusion(np.einsum("be,eij->bij", counts, cm))
    tail = 100 * (1 - level) / 2
    for name in HEADLINE:
        low, high = np.nanpercentile(boot[name], [tail, 100 - tail])
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(low), float(high)
    return out


def format_ci(value: float, low: float, high: float, digits: int = 2) -> str:
    """``0.41 [0.33, 0.49]``, as every table prints an interval."""
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
