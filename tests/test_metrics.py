"""Metrics: window metrics against hand-computed values, the event-level threshold protocol,
event-bootstrap intervals (agree with sklearn, reproducible), the one JSON-safe conversion."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from seqnetquake import metrics as sm
from seqnetquake.metrics import event_bootstrap, event_confusions, metrics_from_confusion
from seqnetquake.predictions import Predictions

# Six windows whose confusion matrix is easy to check by hand:
#   true 0 0 0 1 1 2 / predicted 0 0 1 1 2 2
Y = np.array([0, 0, 0, 1, 1, 2])
PROBA = np.array([
    [0.8, 0.1, 0.1],
    [0.6, 0.3, 0.1],
    [0.3, 0.5, 0.2],
    [0.2, 0.7, 0.1],
    [0.1, 0.4, 0.5],
    [0.1, 0.2, 0.7],
])


def test_window_metrics_by_hand():
    m = sm.window_metrics(Y, PROBA)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # F1 per class: 0.8 (P 1, R 2/3), 0.5, 2/3 (P 1/2, R 1); weights 3, 2, 1.
    assert m["f1_weighted"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    # Multiclass MCC (Gorodkin): (c s - sum t_k p_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2))
    # with c = 4 right, s = 6, true counts t = (3, 2, 1), predicted counts p = (2, 2, 2).
    assert m["mcc"] == pytest.approx((4 * 6 - (6 + 4 + 2)) / math.sqrt((36 - 12) * (36 - 14)))
    # One-vs-rest AUC: class 1 positives 0.7, 0.4 against negatives 0.1 0.3 0.5 0.2 -> 7/8.
    assert (m["auc_class0"], m["auc_class1"], m["auc_class2"]) == pytest.approx((1, 7 / 8, 1))


def test_confusion_row_and_column_percentages():
    t = sm.confusion_tables(Y, PROBA.argmax(axis=1))
    assert t.counts.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert t.row_pct[0].tolist() == pytest.approx([200 / 3, 100 / 3, 0])  # recall of class 0
    assert t.col_pct[:, 2].tolist() == pytest.approx([0, 50, 50])  # precision of class 2
    assert t.row_pct.sum(axis=1) == pytest.approx([100, 100, 100])


def test_event_scores_group_windows_per_event():
    event_id = np.array(["us1", "us1", "us1", "art-cses-00001", "art-cses-00001", ""])
    y = np.array([1, 1, 2, 0, 0, 0])
    proba = np.array([[0.1, 0.9, 0], [0.6, 0.4, 0], [0, 0.2, 0.8], [0.9, 0.1, 0],
                      [0.7, 0.3, 0], [0.1, 0.9, 0]])
    events = sm.event_scores(y, proba, event_id).set_index("event_id")
    assert events.loc["us1", "label"] == 1 and events.loc["art-cses-00001", "label"] == 0
    assert events.loc["us1", "score"] == pytest.approx(2 / 3)  # storm window right as 2
    assert events.loc["art-cses-00001", "score"] == 1.0
    assert events.loc["us1", "p_seismic"] == pytest.approx(0.5)
    assert len(events) == 2  # the window without an event is not an event


def test_authors_rule_threshold_search_is_vacuous():
    """Their rule calls an event with its own label: raising t only adds wrong calls, so MCC
    never increases with t and the 'optimal' threshold is always the grid's first, 0.70."""
    rng = np.random.default_rng(0)
    for _ in range(15):
        n = int(rng.integers(4, 30))
        events = pd.DataFrame({"label": rng.integers(0, 2, n), "score": rng.random(n)})
        label, score = events["label"].to_numpy(), events["score"].to_numpy()
        mccs = [matthews_corrcoef(label, sm.AUTHORS_RULE.call(label, score, t))
                for t in sm.EQ_THRESHOLDS]
        assert np.all(np.diff(mccs) <= 1e-12)
        assert sm.choose_threshold(events) == 0.70


def _predictions(val_p: dict[str, float], test_p: dict[str, float]) -> Predictions:
    """One window per event; y and P(seismic) from the event (real 'usN', artificial 'art-')."""

    def part(events: dict[str, float]):
        ids = np.array(list(events))
        p = np.array(list(events.values()))
        y = np.array([0 if i.startswith("art-") else 1 for i in ids])
        return np.stack([1 - p, p, np.zeros_like(p)], axis=1), y, ids

    proba, y, ids = part(test_p)
    proba_val, y_val, ids_val = part(val_p)
    return Predictions(proba=proba, y=y, event_id=ids,
                          t0=np.arange(len(y)).astype("datetime64[ns]"),
                          proba_val=proba_val, y_val=y_val, event_id_val=ids_val)


def test_alarm_threshold_is_chosen_on_validation_not_test():
    # Validation separates real from artificial events above 0.55: t = 0.56.
    val = {"us1": 0.60, "us2": 0.70, "art-1": 0.30, "art-2": 0.55}
    # The test events would be separated perfectly by t = 0.31, but 0.56 misses us3.
    test = {"us3": 0.45, "us4": 0.80, "art-3": 0.20, "art-4": 0.30}
    m = sm.all_metrics(_predictions(val, test))
    assert m["eqa_threshold"] == pytest.approx(0.56)
    tested = sm.event_scores(*_unpack_test(_predictions(val, test)))
    assert sm.choose_threshold(tested, sm.ALARM_RULE) == pytest.approx(0.31)
    # TP 1, FN 1, TN 2, FP 0 -> MCC 2 / sqrt(1 * 2 * 2 * 3); with 0.31 it would be 1.
    assert m["eqa_mcc"] == pytest.approx(2 / math.sqrt(12))
    assert m["eqa_sensitivity"] == pytest.approx(0.5) and m["eqa_precision"] == 1.0
    assert m["eqa_roc_auc"] == 1.0  # the ranking itself is perfect
    # The authors' rule on the same predictions: us3's one window is wrong (P 0.45 < 0.55).
    assert m["eq_threshold"] == 0.70 and m["eq_accuracy"] == 0.75


def _unpack_test(pred: Predictions):
    return pred.y, pred.proba, pred.event_id


def test_headline_intervals_are_seeded_and_event_weighted_differs():
    rng = np.random.default_rng(0)
    # 30 events: event 0 owns 100 windows, all right; the others 3 windows, half wrong
    ids = np.array(["us0"] * 100 + [f"us{k}" for k in range(1, 30) for _ in range(3)])
    y = rng.integers(0, 3, len(ids))
    right = np.r_[np.ones(100, bool), rng.random(len(ids) - 100) < 0.5]
    pred_class = np.where(right, y, (y + 1) % 3)
    proba = np.eye(3)[pred_class]
    pred = Predictions(proba=proba, y=y, event_id=ids, t0=np.zeros(len(y), "datetime64[ns]"),
                          proba_val=proba, y_val=y, event_id_val=ids)
    a = sm.headline_metrics(pred, 300, seed=1)
    assert a == sm.headline_metrics(pred, 300, seed=1)
    assert a != sm.headline_metrics(pred, 300, seed=2)
    assert set(a) == set(sm.HEADLINE_KEYS)
    # the big all-right event lifts the window-weighted accuracy, not the event-weighted one
    assert a["accuracy"] > a["accuracy_ew"] + 0.1
    assert a["accuracy_ci_low"] < a["accuracy"] < a["accuracy_ci_high"]


# --------------------------------------------------------------------------- event bootstrap


def _sample(n: int = 400, seed: int = 1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, 3, n))
    events = rng.integers(0, 40, n).astype(str)
    return y, pred, events


def test_point_values_match_sklearn():
    y, pred, events = _sample()
    got = metrics_from_confusion(event_confusions(y, pred, events).sum(axis=0))
    assert np.isclose(got["mcc"], matthews_corrcoef(y, pred))
    assert np.isclose(got["f1_weighted"], f1_score(y, pred, average="weighted"))
    assert np.isclose(got["accuracy"], accuracy_score(y, pred))


def test_bootstrap_is_seeded_and_brackets_the_point():
    y, pred, events = _sample()
    a = event_bootstrap(y, pred, events, n_samples=300, seed=3)
    b = event_bootstrap(y, pred, events, n_samples=300, seed=3)
    c = event_bootstrap(y, pred, events, n_samples=300, seed=4)
    assert a == b
    assert a != c
    for name in ("mcc", "f1_weighted", "accuracy"):
        assert a[f"{name}_ci_low"] < a[name] < a[f"{name}_ci_high"]


def test_event_resampling_is_wider_than_window_resampling_when_events_cluster():
    # One big event carries most windows: resampling events must show that uncertainty.
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(300, int), rng.integers(0, 2, 60)]
    pred = np.r_[np.ones(300, int), rng.integers(0, 2, 60)]
    events = np.array(["big"] * 300 + [str(k) for k in range(60)])
    by_event = event_bootstrap(y, pred, events, n_samples=500, seed=0)
    by_window = event_bootstrap(y, pred, np.arange(360).astype(str), n_samples=500, seed=0)
    width = lambda m: m["accuracy_ci_high"] - m["accuracy_ci_low"]  # noqa: E731
    assert width(by_event) > 2 * width(by_window)


def test_event_weighted_gives_each_event_equal_weight():
    y = np.r_[np.ones(99, int), 0]
    pred = np.r_[np.ones(99, int), 1]
    events = np.array(["a"] * 99 + ["b"])
    assert event_bootstrap(y, pred, events, n_samples=10)["accuracy"] == 0.99
    assert event_bootstrap(y, pred, events, n_samples=10, event_weighted=True)["accuracy"] == 0.5


def test_paired_bootstrap_sees_a_win_that_two_intervals_hide():
    # Events differ a lot in difficulty (wide separate intervals); a fixes some of b's errors
    # in every event, so a beats b in nearly every resample of the events.
    rng = np.random.default_rng(1)
    events = np.repeat(np.arange(40).astype(str), 12)
    y = rng.integers(0, 3, events.size)
    hit = rng.random(events.size) < np.repeat(rng.uniform(0.1, 0.9, 40), 12)
    pred_b = np.where(hit, y, (y + 1) % 3)
    pred_a = np.where(~hit & (rng.random(events.size) < 0.3), y, pred_b)
    a = event_bootstrap(y, pred_a, events, n_samples=500, seed=0)
    b = event_bootstrap(y, pred_b, events, n_samples=500, seed=0)
    assert a["mcc_ci_low"] < b["mcc_ci_high"]  # the two intervals overlap ...
    got = sm.paired_event_bootstrap(y, pred_a, pred_b, events, n_samples=500, seed=0)
    assert got["mcc_diff"] == pytest.approx(
        matthews_corrcoef(y, pred_a) - matthews_corrcoef(y, pred_b))
    assert 0 < got["mcc_diff_ci_low"] < got["mcc_diff"] < got["mcc_diff_ci_high"]  # ... not this
    assert got["share_above_0"] > 0.97 and got["n_events"] == 40
    assert got == sm.paired_event_bootstrap(y, pred_a, pred_b, events, n_samples=500, seed=0)
    same = sm.paired_event_bootstrap(y, pred_b, pred_b, events, n_samples=200, seed=0)
    assert (same["mcc_diff"], same["mcc_diff_ci_low"], same["mcc_diff_ci_high"],
            same["share_above_0"]) == (0.0, 0.0, 0.0, 0.0)


# --------------------------------------------------------------------------- JSON
def test_json_safe_nan_numpy_and_nesting():
    value = {"a": float("nan"), "b": [np.float32(0.5), np.inf, (np.int64(3), np.bool_(True))],
             "c": {1: np.array([1.0, np.nan])}, "_frame": pd.DataFrame(), "d": "x", "e": None}
    safe = sm.json_safe(value, skip_private=True)
    assert safe == {"a": None, "b": [0.5, None, [3, True]], "c": {"1": [1.0, None]}, "d": "x",
                    "e": None}
    assert type(safe["b"][0]) is float and type(safe["b"][2][0]) is int
    json.dumps(safe, allow_nan=False)  # plain JSON: no NaN, no NumPy types
    assert "_frame" in sm.json_safe({"_frame": 1})  # only asked for, private keys go
    assert sm.json_safe({"x": 0.123456789, "n": 2}, digits=6) == {"x": 0.123457, "n": 2}
    assert sm.without_nan({"a": 1.0, "b": math.nan, "c": None}) == {"a": 1.0}


def test_tuning_score_is_the_window_metrics():
    from seqnetquake.tuning import score

    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 200)
    proba = rng.dirichlet([1, 1, 1], 200)
    got, window = score(y, proba), sm.window_metrics(y, proba)
    assert list(got) == ["f1_weighted", "mcc", "accuracy"]  # the order trials.json holds
    assert got == {k: window[k] for k in got}
