"""Truth ceiling, detection efficiency and A50: pure functions on window arrays.

- **Oracle** labels: storm windows as labelled (2), else 1 iff the window holds an injected
  sample, else 0. Scored against the windows' labels, they give the best MCC any classifier
  of these windows can reach: the *truth ceiling*.
- **Detection efficiency**: a window is an alarm when P(seismic) exceeds the threshold that
  gives ``far`` false alarms on the *validation* windows labelled 0 without injection; the
  recall of the injected (non-storm) test windows, overall and per amplitude bin, with an
  event bootstrap (windows grouped by the truth event that injected them).
- **A50**: the amplitude at which recall reaches 50 % (log-linear between bin medians), None
  when it never does.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.metrics import matthews_corrcoef

from seqnetquake.metrics import event_bootstrap, event_resample_counts, percentile_interval

# |dNe/Ne| bin edges: 0, 0.01 x 2^k up to 10.24, inf (the same for every run and scale).
AMPLITUDE_EDGES = np.array([0.0, *(0.01 * 2.0 ** np.arange(11)), np.inf])
MIN_BIN_WINDOWS = 5  # a bin with fewer injected windows does not count for A50


def oracle_labels(y: np.ndarray, injected: np.ndarray) -> np.ndarray:
    """Storms as labelled, else 1 where injected, else 0."""
    y = np.asarray(y, dtype=np.int64)
    return np.where(y == 2, 2, np.where(np.asarray(injected, dtype=bool), 1, 0)).astype(np.int64)


def ceiling(y: np.ndarray, injected: np.ndarray, event_id: np.ndarray, *, n_samples: int = 1000,
            seed: int = 0) -> dict[str, float]:
    """Oracle MCC / weighted F1 with event-bootstrap intervals, the 0-vs-1 MCC and counts."""
    y = np.asarray(y, dtype=np.int64)
    injected = np.asarray(injected, dtype=bool)
    oracle = oracle_labels(y, injected)
    boot = event_bootstrap(y, oracle, event_id, n_samples=n_samples, seed=seed)
    out = {f"ceiling_{k}": v for k, v in boot.items()
           if k.split("_ci")[0] in ("mcc", "f1_weighted")}
    binary = y != 2
    out["ceiling_mcc_binary"] = (float(matthews_corrcoef(y[binary], oracle[binary]))
                                 if binary.sum() > 1 else math.nan)
    out["n_windows"] = float(len(y))
    out["n_injected"] = float(injected.sum())
    out["class1_injected_share"] = (float(injected[y == 1].mean()) if (y == 1).any()
                                    else math.nan)
    out["injected_labelled_0"] = float((injected & (y == 0)).sum())
    return out


def far_threshold(score_val: np.ndarray, negative_val: np.ndarray, far: float) -> float:
    """The score above which ``far`` of the validation negatives lie (alarm: score > t)."""
    if not 0 < far < 1:
        raise ValueError("far must be in (0, 1)")
    neg = np.asarray(score_val, dtype=float)[np.asarray(negative_val, dtype=bool)]
    if not len(neg):
        raise ValueError("no validation windows of class 0 without injection: no threshold")
    return float(np.quantile(neg, 1.0 - far, method="higher"))


def amplitude_bins(amplitude: np.ndarray) -> np.ndarray:
    """Bin index of each amplitude in AMPLITUDE_EDGES (0 .. len - 2)."""
    return np.clip(np.searchsorted(AMPLITUDE_EDGES, amplitude, side="right") - 1, 0,
                   len(AMPLITUDE_EDGES) - 2)


def bin_counts(alarm: np.ndarray, amplitude: np.ndarray, group: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hits, totals) per (event group, bin) and the group labels, for the bootstrap."""
    ids = np.asarray(group).astype(str)
    ids = np.where(ids == "", np.char.add("window-", np.arange(len(ids)).astype(str)), ids)
    labels, g = np.unique(ids, return_inverse=True)
    b = amplitude_bins(np.asarray(amplitude, dtype=float))
    n_bins = len(AMPLITUDE_EDGES) - 1
    hits = np.zeros((len(labels), n_bins))
    totals = np.zeros((len(labels), n_bins))
    np.add.at(totals, (g, b), 1.0)
    np.add.at(hits, (g, b), np.asarray(alarm, dtype=float))
    return hits, totals, labels


def efficiency_curve(alarm: np.ndarray, amplitude: np.ndarray, group: np.ndarray, *,
                     n_samples: int = 1000, seed: int = 0, level: float = 0.95
                     ) -> list[dict[str, float | None]]:
    """Recall per amplitude bin of the injected windows, with event-bootstrap bands."""
    amplitude = np.asarray(amplitude, dtype=float)
    hits, totals, _ = bin_counts(alarm, amplitude, group)
    b = amplitude_bins(amplitude)
    n_hit, n_tot = hits.sum(axis=0), totals.sum(axis=0)
    low = high = np.full(len(n_tot), np.nan)
    if len(totals) >= 2 and n_samples > 0:
        counts = event_resample_counts(len(totals), n_samples, seed)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = (counts @ hits) / (counts @ totals)
        with warnings.catch_warnings():  # a bin empty in every replicate: all-NaN column
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = percentile_interval(boot, level, axis=0)
    rows = []
    for k in range(len(n_tot)):
        if n_tot[k] == 0:
            continue
        rows.append({
            "bin_low": float(AMPLITUDE_EDGES[k]),
            "bin_high": (float(AMPLITUDE_EDGES[k + 1]) if np.isfinite(AMPLITUDE_EDGES[k + 1])
                         else None),
            "amplitude": float(np.median(amplitude[b == k])),
            "n": int(n_tot[k]), "hits": int(n_hit[k]),
            "recall": float(n_hit[k] / n_tot[k]),
            "recall_low": _finite_or_none(low[k]), "recall_high": _finite_or_none(high[k]),
        })
    return rows


def a50(curve: list[dict[str, float | None]], min_windows: int = MIN_BIN_WINDOWS) -> float | None:
    """Amplitude where recall first reaches 0.5 (log-linear between bins); None if never."""
    points = [(float(r["amplitude"]), float(r["recall"])) for r in curve
              if r["n"] >= min_windows and r["amplitude"] and r["amplitude"] > 0]
    points.sort()
    previous = None
    for amp, rec in points:
        if rec >= 0.5:
            if previous is None or previous[1] >= rec:
                return amp
            (a0, r0) = previous
            frac = (0.5 - r0) / (rec - r0)
            return float(math.exp(math.log(a0) + frac * (math.log(amp) - math.log(a0))))
        previous = (amp, rec)
    return None


def pooled_curve(curves: list[list[dict]]) -> list[dict[str, float | None]]:
    """Bins of several runs (the amplitude sweep) added up; amplitude = n-weighted median proxy."""
    by_bin: dict[float, dict] = {}
    for curve in curves:
        for r in curve:
            row = by_bin.setdefault(r["bin_low"], {"bin_low": r["bin_low"],
                                                   "bin_high": r["bin_high"], "n": 0, "hits": 0,
                                                   "_amp": 0.0})
            row["n"] += r["n"]
            row["hits"] += r["hits"]
            row["_amp"] += r["amplitude"] * r["n"]
    rows = []
    for key in sorted(by_bin):
        r = by_bin[key]
        rows.append({"bin_low": r["bin_low"], "bin_high": r["bin_high"],
                     "amplitude": r["_amp"] / r["n"], "n": r["n"], "hits": r["hits"],
                     "recall": r["hits"] / r["n"], "recall_low": None, "recall_high": None})
    return rows


def detection(score_val: np.ndarray, negative_val: np.ndarray, score_test: np.ndarray,
              positive_test: np.ndarray, negative_test: np.ndarray, amplitude_test: np.ndarray,
              group_test: np.ndarray, far: float, *, n_samples: int = 1000, seed: int = 0
              ) -> dict:
    """Threshold on validation, then test recall (overall, per bin), realised FAR and A50."""
    threshold = far_threshold(score_val, negative_val, far)
    alarm = np.asarray(score_test, dtype=float) > threshold
    pos = np.asarray(positive_test, dtype=bool)
    neg = np.asarray(negative_test, dtype=bool)
    curve = efficiency_curve(alarm[pos], np.asarray(amplitude_test)[pos],
                             np.asarray(group_test)[pos], n_samples=n_samples, seed=seed)
    return {
        "threshold": threshold,
        "recall_at_far": float(alarm[pos].mean()) if pos.any() else None,
        "far_test": float(alarm[neg].mean()) if neg.any() else None,
        "n_injected_test": int(pos.sum()),
        "a50": a50(curve),
        "curve": curve,
    }


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
