"""Window arrays checked before any model sees them (tuning, training, predict, score, serving).

A NaN or a Te of -1000 K must never become a probability: every failure is one line naming
the source, the field and the first offending index. The instrument ranges are those of the
tracks suite (expectations/tracks.json; a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqnetquake.config import WINDOW_CHANNELS
from seqnetquake.contracts import N_CLASSES
from seqnetquake.errors import InputError

# Window channels (windows.features): the raw measurements, and residuals against the causal
# quiet-time background (background.py): log10 ratio (dex), z-score by MAD, and the log ratio
# less its along-track trend (channels.py).
CHANNELS = WINDOW_CHANNELS
PHYSICAL_CHANNELS = CHANNELS[:2]  # ne_cm3, te_k
RESIDUAL_CHANNELS = CHANNELS[2:]  # ne_resid, te_resid, ne_z, te_z, ne_detr, te_detr

# Physical channels' plausible instrument ranges (inclusive); other channels (residuals) are
# only checked for finiteness.
INSTRUMENT_RANGES: dict[str, tuple[float, float]] = {
    "ne_cm3": (500.0, 1e7),
    "te_k": (500.0, 10000.0),
}
LABELS = tuple(range(N_CLASSES))  # 0, 1, 2


def needs_background(features: list[str] | tuple[str, ...]) -> bool:
    """Whether windows of these channels need the background reference."""
    return any(f in RESIDUAL_CHANNELS for f in features)


def check_windows(
    X: np.ndarray,
    y: np.ndarray | None = None,
    *,
    T: int | None = None,
    channels: Sequence[str] | None = None,
    source: str = "windows",
    ranges: bool = True,
) -> None:
    """Raise :class:`InputError` on the first problem; return None when the windows are usable.

    ``ranges=False`` leaves out the instrument ranges (a model checks shape and finiteness; the
    npz readers and serving check the ranges)."""
    X = np.asarray(X)
    if X.ndim != 3:
        raise InputError(source, "X", f"expected 3 dimensions (windows, T, channels), got shape "
                         f"{tuple(X.shape)}")
    if T is not None and X.shape[1] != T:
        raise InputError(source, "X", f"window length T = {X.shape[1]}, the model expects "
                         f"T = {T}")
    if channels is not None and X.shape[2] != len(channels):
        raise InputError(source, "X", f"{X.shape[2]} channels, the model expects "
                         f"{len(channels)} ({', '.join(channels)})")
    if not np.issubdtype(X.dtype, np.number):
        raise InputError(source, "X", f"not numeric (dtype {X.dtype})")
    names = list(channels) if channels is not None else [f"channel {k}" for k in
                                                          range(X.shape[2])]
    bad = ~np.isfinite(X)
    if bad.any():
        i, t, k = np.argwhere(bad)[0]
        raise InputError(source, f"X[{names[k]}]", f"non-finite value {X[i, t, k]} at window "
                         f"{i}, sample {t}")
    for k, name in enumerate(names if ranges else ()):
        if name not in INSTRUMENT_RANGES:
            continue
        low, high = INSTRUMENT_RANGES[name]
        out = (X[:, :, k] < low) | (X[:, :, k] > high)
        if out.any():
            i, t = np.argwhere(out)[0]
            raise InputError(source, f"X[{name}]", f"{X[i, t, k]:g} outside the instrument "
                             f"range [{low:g}, {high:g}] at window {i}, sample {t}")
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(X):
            raise InputError(source, "y", f"{len(y)} labels for {len(X)} windows")
        invalid = ~np.isin(y, LABELS)
        if invalid.any():
            i = int(np.argmax(invalid))
            raise InputError(source, "y", f"label {y[i]} not in {{0, 1, 2}} at window {i}")
