"""Geomagnetic storm effects driven by the real 3-hourly Kp (SIMULATOR-NOTES, 'Storms').

A storm index follows Kp with a fast rise and an exponential recovery::

    x_i = clip((Kp_i - kp_quiet) / (kp_reference - kp_quiet), 0, max_index)
    S_i = max(x_i, S_{i-1} * exp(-3 h / recovery_days))

so S = 1 at the reference Kp (4-5) and decays with the ~5-day low-latitude recovery seen in the
August 2018 storm. The changes at S = 1 are the notes' figures between Kp 0-1 and Kp 4-5:
night-side Ne up (+44 % at high latitude, COSMIC; a smaller low-latitude rise), sunlit Ne down
(-20 %), Te up (strongly by day, +300 K at night, Hinotori at 600 km). They scale linearly
with S.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqnetquake.config import StormConfig
from seqnetquake.contracts import NS_PER_DAY, NS_PER_H
from seqnetquake.simulate.ionosphere import smoothstep

INTERVAL_NS = 3 * NS_PER_H  # one Kp interval


def storm_index(kp: pd.DataFrame, cfg: StormConfig) -> tuple[np.ndarray, np.ndarray]:
    """(interval mid-times ns, storm index) from a Kp table with columns start, end, kp.

    A loop over 3-hour intervals (2920 a year), not over samples: the recursion is sequential.
    """
    kp = kp.sort_values("start")
    start = kp["start"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    end = kp["end"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    mid = start + (end - start) // 2
    drive = np.clip(
        (kp["kp"].to_numpy(dtype=float) - cfg.kp_quiet) / (cfg.kp_reference - cfg.kp_quiet),
        0.0,
        cfg.max_index,
    )
    decay = np.exp(-np.diff(mid, prepend=mid[0] - INTERVAL_NS) / (cfg.recovery_days * NS_PER_DAY))
    index = np.empty_like(drive)
    level = 0.0
    for i, (x, d) in enumerate(zip(drive, decay, strict=True)):
        level = max(x, level * d)
        index[i] = level
    return mid, index


def index_at(mid_ns: np.ndarray, index: np.ndarray, time_ns: np.ndarray) -> np.ndarray:
    """Storm index at sample times (linear between interval mid-points)."""
    if len(mid_ns) == 0:
        return np.zeros(len(time_ns))
    t = np.asarray(time_ns, dtype=np.int64)
    if t.size and (t.min() < mid_ns[0] - INTERVAL_NS or t.max() > mid_ns[-1] + INTERVAL_NS):
        raise ValueError("Kp table does not cover the simulated period")
    return np.interp(t.astype(np.float64), mid_ns.astype(np.float64), index)


def storm_effect(
    cfg: StormConfig, s: np.ndarray, abs_mlat: np.ndarray, w_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(relative Ne change, additive Te change in K) for storm index ``s``."""
    night_ne = cfg.night_lowlat_ne_rel + (
        cfg.night_highlat_ne_rel - cfg.night_lowlat_ne_rel
    ) * smoothstep(abs_mlat, 30.0, 60.0)
    d_ne_rel = s * (w_day * cfg.day_ne_rel + (1.0 - w_day) * night_ne)
    d_te_k = s * (w_day * cfg.day_te_k + (1.0 - w_day) * cfg.night_te_k)
    return d_ne_rel, d_te_k
