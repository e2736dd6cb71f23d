"""Labelled windows as the model side sees them: one split of one dataset, loaded from npz.

The windows stage writes ``data/processed/<dataset>/{train,test}.npz``; everything downstream
(tuning, training, evaluation) reads them through :class:`WindowSet` so that the validation
split is cut the same way everywhere: chronologically, from the end of the training set.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from seqnetquake.errors import InputError

N_CLASSES = 3
CLASS_NAMES = ("non-seismic", "seismic", "storm")  # labels 0, 1, 2
DEFAULT_CHANNELS = ("ne_cm3", "te_k")  # npz files without a ``channels`` array hold these


@dataclass(frozen=True)
class WindowSet:
    X: np.ndarray  # float32 (N, T, F), raw (unscaled) Ne cm^-3, Te K
    y: np.ndarray  # int64 (N,)
    event_id: np.ndarray  # str (N,), "" where no event labelled the window
    t0: np.ndarray  # datetime64[ns] (N,), UTC start of each window
    lat: np.ndarray
    lon: np.ndarray
    half_orbit_id: np.ndarray
    channels: tuple[str, ...] = DEFAULT_CHANNELS  # names of X's last axis (windows.features)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def T(self) -> int:
        return int(self.X.shape[1])

    @property
    def F(self) -> int:
        return int(self.X.shape[2])

    def take(self, index: np.ndarray | slice) -> WindowSet:
        return WindowSet(**{f.name: getattr(self, f.name)[index] for f in fields(self)
                            if f.name != "channels"}, channels=self.channels)

    def chronological_split(self, validation_fraction: float) -> tuple[WindowSet, WindowSet]:
        """Cut the last ``validation_fraction`` of windows (by start time) off as validation.

        Windows of one half-orbit stay on one side, so near-duplicates from a single pass
        cannot straddle the cut.
        """
        if not 0 < validation_fraction < 1:
            raise ValueError("validation_fraction must be in (0, 1)")
        order = np.argsort(self.t0, kind="stable")
        ordered = self.take(order)
        n_train = int(round(len(ordered) * (1 - validation_fraction)))
        # Move the cut forward to the end of the half-orbit it falls in.
        hoid = ordered.half_orbit_id
        while 0 < n_train < len(ordered) and hoid[n_train] == hoid[n_train - 1]:
            n_train += 1
        return ordered.take(slice(0, n_train)), ordered.take(slice(n_train, None))


def load_windows(path: str | Path) -> WindowSet:
    """Load one ``train.npz``/``test.npz``; a missing key is an InputError naming it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {}
            for f in fields(WindowSet):
                if f.name == "channels":
                    names = data.get("channels", DEFAULT_CHANNELS)
                    arrays["channels"] = tuple(str(c) for c in names)
                    continue
                if f.name not in data:
                    raise InputError(path, f.name, "missing array")
                arrays[f.name] = data[f.name]
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(path, "file", f"not a readable npz: {exc}") from exc
    ws = WindowSet(**arrays)
    if ws.X.ndim != 3 or len(ws.X) != len(ws.y):
        raise InputError(path, "X", f"expected (N, T, F) matching y, got {ws.X.shape}")
    return ws


def load_dataset(dataset_dir: str | Path) -> tuple[WindowSet, WindowSet]:
    """(train, test) of one dataset directory."""
    dataset_dir = Path(dataset_dir)
    return load_windows(dataset_dir / "train.npz"), load_windows(dataset_dir / "test.npz")
