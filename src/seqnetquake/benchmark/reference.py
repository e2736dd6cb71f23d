"""The truth-trained reference: what the window content lets a detector that knows the truth do.

The truth ceiling says how well the *labels* can be matched by anyone who knows which windows
hold injected samples; it says nothing about whether the windows' channels show them. This
reference is a logistic regression on per-window statistics (mean, median, standard deviation,
minimum and maximum of each channel; log10 of the raw channels) fitted to the injection truth of
the fit windows (the windows the models fit on; storm windows left out). It raises an alarm
where P(injected) exceeds the validation threshold of ``benchmark.far`` false alarms, and its
alarms are its predictions (1, else 0): scored like the models, test MCC against the windows'
labels and recall at that threshold. A model near it has learnt what a simple detector that
knows the truth sees in its windows; a gap to the ceiling that the reference shares belongs to
the data, not to the model. It is a lower bound on what the windows allow (a better
truth-trained model could do more), and never a model a user could train: real data have no
truth.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from seqnetquake.windowcheck import PHYSICAL_CHANNELS
from seqnetquake.windowset import WindowSet

KEY = "truth_trained"  # its key among the benchmark's models
NAME = "Truth-trained reference"


def window_statistics(ws: WindowSet) -> np.ndarray:
    """(windows, 5 x channels): mean, median, std, min, max of each channel."""
    X = np.asarray(ws.X, dtype=np.float64)
    for f, channel in enumerate(ws.channels):
        if channel in PHYSICAL_CHANNELS:  # Ne spans decades: the models see its log too
            X[:, :, f] = np.log10(np.clip(X[:, :, f], 1e-12, None))
    return np.concatenate([X.mean(1), np.median(X, 1), X.std(1), X.min(1), X.max(1)], axis=1)


def truth_trained_proba(fit: WindowSet, fit_injected: np.ndarray,
                        *others: WindowSet) -> list[np.ndarray]:
    """(P(not injected), P(injected), 0) of each window set in ``others``, from a logistic
    regression fitted on the fit windows that are not storms, to their injection truth.

    A precursor detector, not a storm one: the storm class is Kp's, and the models see storms
    in their channels or not at all. Without injected fit windows (zero amplitude) every window
    gets P(injected) 0.
    """
    quiet = np.asarray(fit.y) != 2
    target = np.asarray(fit_injected, dtype=bool)[quiet]
    out = []
    fitted = None
    if 0 < target.sum() < len(target):
        fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        fitted.fit(window_statistics(fit)[quiet], target)
    for ws in others:
        q = (fitted.predict_proba(window_statistics(ws))[:, 1] if fitted is not None and len(ws)
             else np.zeros(len(ws)))
        out.append(np.stack([1 - q, q, np.zeros(len(ws))], axis=1))
    return out
