"""Labelled windows as the model side sees them: one split of one dataset, loaded from npz.

The windows stage writes ``data/processed/<dataset>/{train,test}.npz``; everything downstream
(tuning, training, evaluation) reads them through :class:`WindowSet`. Every chronological cut
of the project, the windows stage's train/test split and the fit/validation split of tuning and
training, is :func:`split_by_events`: whole events on each side, a gap of days between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from seqnetquake.config import Config, ConfigError
from seqnetquake.contracts import (
    N_CLASSES,
    NS_PER_DAY,
    TEST_WINDOWS_FILE,
    TRAIN_WINDOWS_FILE,
)
from seqnetquake.errors import InputError
from seqnetquake.windowcheck import check_windows

DEFAULT_GAP_DAYS = 15.0  # windows.split_gap_days
# Among cuts whose later share is within this of the closest achievable share, the one that
# keeps most windows wins (the gap and the straddling events cost windows).
FRACTION_SLACK = 0.01
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

    def chronological_split(
        self, fraction: float, *, gap_days: float = DEFAULT_GAP_DAYS, window_s: float = 0.0,
    ) -> tuple[WindowSet, WindowSet]:
        """(earlier, later) of :func:`split_by_events`; raises ValueError when no cut fits."""
        split = split_by_events(self, fraction, gap_days=gap_days, window_s=window_s)
        if not split.feasible:
            raise ValueError(split.infeasible_reason())
        return split.earlier, split.later


@dataclass(frozen=True)
class Split:
    """An event-aware chronological cut with a gap (:func:`split_by_events`)."""

    earlier: WindowSet
    later: WindowSet
    dropped_gap: WindowSet  # before the cut, ending less than gap_days before it
    dropped_straddling: WindowSet  # after the cut, of an event with windows before it
    cut: np.datetime64 | None  # start of the first window on the later side
    gap_days: float
    target_fraction: float

    @property
    def feasible(self) -> bool:
        return len(self.earlier) > 0 and len(self.later) > 0

    @property
    def achieved_fraction(self) -> float:
        kept = len(self.earlier) + len(self.later)
        return len(self.later) / kept if kept else float("nan")

    def infeasible_reason(self) -> str:
        every = self.earlier if len(self.earlier) else self.later
        span = (every.t0.max() - every.t0.min()) / np.timedelta64(1, "D") if len(every) else 0.0
        return (f"no chronological cut leaves whole events on both sides with a "
                f"{self.gap_days:g}-day gap (split_gap_days): {len(every)} windows of "
                f"{len(np.unique(every.event_id))} events span {span:.1f} days")

    def summary(self) -> dict[str, Any]:
        """The manifest's ``split`` entry: cut, gap, windows dropped per class, proportion."""
        def per_class(ws: WindowSet) -> dict[str, int]:
            n = np.bincount(ws.y, minlength=N_CLASSES) if len(ws) else np.zeros(N_CLASSES, int)
            return {**{str(c): int(n[c]) for c in range(N_CLASSES)}, "total": len(ws)}

        shared = set(self.earlier.event_id.astype(str)) & set(self.later.event_id.astype(str))
        shared.discard("")
        achieved = self.achieved_fraction
        return {
            "cut": str(self.cut) if self.cut is not None else None,
            "gap_days": self.gap_days,
            "last_earlier_t0": str(self.earlier.t0.max()) if len(self.earlier) else None,
            "first_later_t0": str(self.later.t0.min()) if len(self.later) else None,
            "target_fraction": self.target_fraction,
            "achieved_fraction": None if achieved != achieved else round(achieved, 4),
            "fraction_off_by": None if achieved != achieved
            else round(achieved - self.target_fraction, 4),
            "dropped_in_gap": per_class(self.dropped_gap),
            "dropped_straddling": per_class(self.dropped_straddling),
            "events_on_both_sides": len(shared),
        }


def split_by_events(
    ws: WindowSet, fraction: float, *, gap_days: float = DEFAULT_GAP_DAYS, window_s: float = 0.0,
) -> Split:
    """Cut ``ws`` in time so that about ``fraction`` of the kept windows are on the later side.

    Rules (the one split of the project: windows train/test, tuning/training fit/validation):
    - an event (``event_id``; ``""`` = a window of its own) lies wholly on one side: the later
      side starts at a cut time ``c`` and holds every window of the events whose first window
      starts at or after ``c``;
    - the earlier side holds the windows that end (``t0 + window_s``) at least ``gap_days``
      before ``c``; windows of events that started before ``c`` but end later fall in the gap
      or straddle the cut: both are dropped, and counted;
    - among all cuts the later share ``later / (earlier + later)`` is kept as close to
      ``fraction`` as whole events allow; within ``FRACTION_SLACK`` of that, the cut dropping
      fewest windows wins (earliest on ties).
    When no cut leaves windows on both sides, the split is infeasible: everything is on the
    earlier side (``Split.feasible`` is False).
    """
    if not 0 < fraction < 1:
        raise ValueError("fraction must be in (0, 1)")
    if gap_days < 0:
        raise ValueError("gap_days must be >= 0")
    order = np.argsort(ws.t0, kind="stable")
    ordered = ws.take(order)
    n = len(ordered)
    empty = ordered.take(slice(0, 0))
    infeasible = Split(ordered, empty, empty, empty, None, float(gap_days), float(fraction))
    if n < 2:
        return infeasible
    t = ordered.t0.astype("datetime64[ns]").astype(np.int64)
    ids = ordered.event_id.astype(str)
    ids = np.where(ids == "", np.char.add("#window-", np.arange(n).astype(str)), ids)
    _, group = np.unique(ids, return_inverse=True)
    first = np.full(group.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, group, t)
    first_of = first[group]  # start of the first window of each window's event
    window_ns = int(round(window_s * 1e9))
    end = t + window_ns
    gap_ns = int(round(gap_days * NS_PER_DAY))

    cuts = np.unique(first_of)
    n_later = n - np.searchsorted(np.sort(first_of), cuts, side="left")
    # Earlier: ends by cut - gap and starts before the cut (implied unless gap and span are 0).
    n_earlier = np.searchsorted(np.sort(end), cuts - gap_ns,
                                side="right" if gap_ns + window_ns > 0 else "left")
    ok = (n_later > 0) & (n_earlier > 0)
    if not ok.any():
        return infeasible
    kept = n_earlier + n_later
    off = np.where(ok, np.abs(n_later / np.maximum(kept, 1) - fraction), np.inf)
    near = ok & (off <= off.min() + FRACTION_SLACK)
    best = int(np.argmax(np.where(near, kept, -1)))
    cut = cuts[best]
    later = first_of >= cut
    earlier = (end <= cut - gap_ns) & (t < cut)
    straddling = (t >= cut) & ~later
    gap = ~later & ~earlier & ~straddling
    return Split(
        earlier=ordered.take(np.flatnonzero(earlier)),
        later=ordered.take(np.flatnonzero(later)),
        dropped_gap=ordered.take(np.flatnonzero(gap)),
        dropped_straddling=ordered.take(np.flatnonzero(straddling)),
        cut=np.datetime64(int(cut), "ns"),
        gap_days=float(gap_days),
        target_fraction=float(fraction),
    )


def load_windows(
    path: str | Path, *, T: int | None = None, channels: Sequence[str] | None = None
) -> WindowSet:
    """Load one ``train.npz``/``test.npz``; a missing key is an InputError naming it.

    The windows are checked (``windowcheck.check_windows``: finite X in the instrument ranges,
    labels in {0, 1, 2}, and T/channels when given) before any model sees them.
    """
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
    check_windows(ws.X, ws.y, T=T, channels=channels, source=str(path))
    if channels is not None and ws.channels != tuple(channels):
        raise InputError(path, "channels", f"the windows hold {', '.join(ws.channels)}, "
                         f"expected {', '.join(channels)} (params windows.features)")
    return ws


def load_dataset(
    dataset_dir: str | Path, *, T: int | None = None, channels: Sequence[str] | None = None
) -> tuple[WindowSet, WindowSet]:
    """(train, test) of one dataset directory, both checked as :func:`load_windows` does."""
    dataset_dir = Path(dataset_dir)
    return (load_windows(dataset_dir / TRAIN_WINDOWS_FILE, T=T, channels=channels),
            load_windows(dataset_dir / TEST_WINDOWS_FILE, T=T, channels=channels))


def validation_gap_days(cfg: Config) -> float:
    """The fit/validation gap: ``tuning.validation_gap_days``, else ``windows.split_gap_days``."""
    gap = cfg.tuning.validation_gap_days
    return cfg.windows.split_gap_days if gap is None else gap


def fit_validation_split(train: WindowSet, cfg: Config) -> tuple[WindowSet, WindowSet]:
    """(fit, validation) of a training split: the cut tuning and every training stage use."""
    split = split_by_events(train, cfg.tuning.validation_fraction,
                            gap_days=validation_gap_days(cfg),
                            window_s=(train.T - 1) * cfg.tracks.cadence_s)
    if not split.feasible:
        raise ConfigError(f"params: tuning.validation_fraction/validation_gap_days: "
                         f"{split.infeasible_reason()}")
    return split.earlier, split.later
