"""The truth-trained reference: what the window content lets a detector that knows the truth do.

The truth ceiling says how well the *labels* can be matched by anyone who knows which windows
hold injected samples; it says nothing about whether the windows' channels show them. This
reference is a class-balanced multinomial logistic regression on per-window statistics (mean,
median, standard deviation, minimum and maximum of each channel; log10 of the raw channels)
fitted to the *oracle* labels of the fit windows, the windows the models are fitted on. It is
scored like the models (test MCC against the windows' labels, recall at the validation
false-alarm threshold), so a model near it has learnt what a simple detector can see in its
windows, and a gap to the ceiling that the reference shares is a property of the data, not of
the model. It is a lower bound on what the windows allow (a better truth-trained model could do
more), and never a model a user could train: real data have no truth.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from seqnetquake.benchmark.efficiency import oracle_labels
from seqnetquake.windowcheck import PHYSICAL_CHANNELS
from seqnetquake.windowset import WindowSet

KEY = "truth_trained"  # its key among the benchmark's models
NAME = "Truth-trained reference"
N_CLASSES = 3


def window_statistics(ws: WindowSet) -> np.ndarray:
    """(windows, 5 x channels): mean, median, std, min, max of each channel."""
    X = np.asarray(ws.X, dtype=np.float64)
    for f, channel in enumerate(ws.channels):
        if channel in PHYSICAL_CHANNELS:  # Ne spans decades: the models see its log too
            X[:, :, f] = np.log10(np.clip(X[:, :, f], 1e-12, None))
    return np.concatenate([X.mean(1), np.median(X, 1), X.std(1), X.min(1), X.max(1)], axis=1)


def truth_trained_proba(fit: WindowSet, fit_injected: np.ndarray,
                        *others: WindowSet) -> list[np.ndarray]:
    """P(class) of each window set in ``others`` from the reference fitted on ``fit``.

    A class absent from the fit windows' oracle labels (class 1 at zero amplitude) gets
    probability 0; with one class only, every window gets it.
    """
    target = oracle_labels(fit.y, fit_injected)
    classes = np.unique(target)
    out = []
    if len(classes) < 2:
        for ws in others:
            p = np.zeros((len(ws), N_CLASSES))
            p[:, classes[0] if len(classes) else 0] = 1.0
            out.append(p)
        return out
    # Balanced: injected windows are a small minority of the oracle labels; unweighted, the
    # argmax would never say seismic and the reference's MCC would be 0 whatever it sees.
    model = make_pipeline(StandardScaler(),
                          LogisticRegression(max_iter=5000, class_weight="balanced"))
    model.fit(window_statistics(fit), target)
    for ws in others:
        p = np.zeros((len(ws), N_CLASSES))
        if len(ws):
            p[:, classes] = model.predict_proba(window_statistics(ws))
        out.append(p)
    return out
