"""Event-bootstrap metrics agree with sklearn and are reproducible."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from seqnetquake.metrics import event_bootstrap, event_confusions, metrics_from_confusion


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
