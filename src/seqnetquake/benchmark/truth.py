"""Read the injection truth and join it to windows by half-orbit and time.

A window of ``T`` samples starting at ``t0`` spans ``[t0, t0 + T x cadence)`` (each track sample
owns one cadence step); it *holds an injected sample* when a truth row of the same half-orbit
lies in that span. Its amplitude is the largest ``|delta_ne_rel|`` among those rows, and its
truth event the strongest contributor of that row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from seqnetquake.contracts import TRUTH_FILE
from seqnetquake.errors import InputError
from seqnetquake.geo import to_ns

# The truth columns the benchmark reads (of contracts.TRUTH_COLUMNS).
JOIN_COLUMNS = ("time", "half_orbit_id", "event_id", "delta_ne_rel")


def _read_table(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """A truth table with its required columns; an InputError names the file and the field."""
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(path, "file", f"no readable injection truth: {exc}") from exc
    for column in columns:
        if column not in table.columns:
            raise InputError(path, column, "missing column")
    return table


def read_truth(raw_dir: str | Path) -> pd.DataFrame:
    """``truth.parquet`` of one raw folder, sorted by time; an InputError names a bad field."""
    path = Path(raw_dir) / TRUTH_FILE
    truth = _read_table(path, JOIN_COLUMNS)
    bad = np.flatnonzero(~np.isfinite(truth["delta_ne_rel"].to_numpy(dtype=float)))
    if len(bad):
        raise InputError(path, "delta_ne_rel", "not finite", int(bad[0]))
    return truth.sort_values("time", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class WindowTruth:
    """Per window: does it hold an injected sample, how strong, which event injected it."""

    injected: np.ndarray  # bool
    amplitude: np.ndarray  # float64, max |dNe/Ne| of its injected samples (0 when none)
    truth_event: np.ndarray  # str, "" when none


def window_truth(
    t0: np.ndarray, half_orbit_id: np.ndarray, T: int, cadence_s: float, truth: pd.DataFrame
) -> WindowTruth:
    """Join windows ``(t0, half_orbit_id)`` with truth rows ``(time, half_orbit_id)``."""
    n = len(t0)
    injected = np.zeros(n, dtype=bool)
    amplitude = np.zeros(n)
    truth_event = np.full(n, "", dtype=object)
    if n == 0 or truth.empty:
        return WindowTruth(injected, amplitude, truth_event.astype(str))
    truth_t = to_ns(truth["time"])
    order = np.argsort(truth_t, kind="stable")
    truth_t = truth_t[order]
    truth_ho = truth["half_orbit_id"].to_numpy(dtype=np.int64)[order]
    truth_amp = np.abs(truth["delta_ne_rel"].to_numpy(dtype=float))[order]
    truth_id = truth["event_id"].astype(str).to_numpy()[order]
    start = np.asarray(t0, dtype="datetime64[ns]").astype(np.int64)
    end = start + int(round(T * cadence_s * 1e9))
    lo = np.searchsorted(truth_t, start, side="left")
    hi = np.searchsorted(truth_t, end, side="left")
    ho = np.asarray(half_orbit_id, dtype=np.int64)
    for i in np.flatnonzero(hi > lo):  # only windows with truth rows in their span
        rows = np.arange(lo[i], hi[i])
        rows = rows[truth_ho[rows] == ho[i]]
        if len(rows):
            best = rows[np.argmax(truth_amp[rows])]
            injected[i], amplitude[i], truth_event[i] = True, truth_amp[best], truth_id[best]
    return WindowTruth(injected, amplitude, truth_event.astype(str))
