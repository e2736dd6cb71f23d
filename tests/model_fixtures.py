"""Tiny labelled window sets for the model and tuning tests (raw units, as in the npz files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqnetquake.windowset import WindowSet

# Small Keras hyper-parameters: every layer type of SeqNetQuake, seconds to build and fit.
TINY_SEQNETQUAKE = {
    "n_sub": 2, "padding": "same", "cnn_layers": 2, "cnn_filters": 2, "cnn_kernel": 2,
    "cnn_activation": "relu", "lstm_layers": 1, "lstm_units": 8, "fc_layers": 2,
    "fc_units": 8, "fc_activation": "relu", "dropout": 0.25, "batch_size": 32,
}


def window_set(n: int, T: int, seed: int = 0, F: int = 2, start: int = 0) -> WindowSet:
    """n windows of T x F; class 1 carries a Ne enhancement, class 2 a hot Te (learnable)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    ne = 10 ** rng.normal(5.0, 0.3, (n, 1)) * rng.lognormal(0, 0.1, (n, T))
    ne *= np.where(y == 1, 2.0, 1.0)[:, None]
    te = rng.normal(1500, 100, (n, 1)) + rng.normal(0, 50, (n, T))
    te += np.where(y == 2, 600.0, 0.0)[:, None]
    X = np.stack([ne, te] + [te] * (F - 2), axis=-1).astype(np.float32)
    # One window a day: the fit/validation cut needs days of data for its gap
    # (windowset.split_by_events).
    t0 = np.datetime64("2019-10-01T00:00:00", "ns") + (start + np.arange(n)) * np.timedelta64(
        1, "D"
    )
    return WindowSet(
        X=X,
        y=y.astype(np.int64),
        event_id=np.array([f"ev{i % 7}" if y[i] == 1 else "" for i in range(n)]),
        t0=t0,
        lat=rng.uniform(-60, 60, n),
        lon=rng.uniform(-180, 180, n),
        half_orbit_id=((start + np.arange(n)) // 10).astype(np.int64),
    )


def save_npz(ws: WindowSet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{name: getattr(ws, name) for name in ws.__dataclass_fields__})


def write_dataset(directory: Path, n_train: int = 200, n_test: int = 50, T: int = 20) -> Path:
    """A dataset folder like the windows stage writes (train.npz, test.npz)."""
    save_npz(window_set(n_train, T, seed=1), directory / "train.npz")
    save_npz(window_set(n_test, T, seed=2, start=n_train), directory / "test.npz")
    return directory
