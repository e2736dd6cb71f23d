"""The truth-trained reference sees what the window content shows, nothing else."""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.metrics import roc_auc_score

from seqnetquake.benchmark import reference
from tiny_windows import window_set


def _with_bump(seed: int, share: float, bump: float):
    """Tiny windows; ``share`` of the class-1 windows carry Ne x ``bump`` (the injected)."""
    ws = window_set(300, seed=seed)
    rng = np.random.default_rng(seed)
    injected = (ws.y == 1) & (rng.random(len(ws)) < share)
    X = ws.X.copy()
    X[injected, :, 0] *= bump
    return dataclasses.replace(ws, X=X), injected


def test_reference_ranks_windows_that_show_the_injection():
    fit, fit_inj = _with_bump(1, 0.5, 3.0)
    test, test_inj = _with_bump(2, 0.5, 3.0)
    (p,) = reference.truth_trained_proba(fit, fit_inj, test)
    assert p.shape == (len(test), 3) and (p[:, 2] == 0).all()  # a precursor detector
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert roc_auc_score(test_inj, p[:, 1]) > 0.9


def test_reference_is_blind_where_the_windows_show_nothing():
    fit, fit_inj = _with_bump(1, 0.5, 1.0)  # injected in the truth, invisible in the windows
    test, test_inj = _with_bump(2, 0.5, 1.0)
    (p,) = reference.truth_trained_proba(fit, fit_inj, test)
    seismic = test.y == 1  # the tiny windows' classes differ; the injected among them do not
    assert 0.3 < roc_auc_score(test_inj[seismic], p[seismic, 1]) < 0.7


def test_reference_without_injected_windows_never_says_seismic():
    fit, _ = _with_bump(1, 0.0, 1.0)
    test, _ = _with_bump(2, 0.0, 1.0)
    (p,) = reference.truth_trained_proba(fit, np.zeros(len(fit), bool), test)
    assert (p[:, 1] == 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
