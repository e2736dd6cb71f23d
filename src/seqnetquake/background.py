"""The background stage: a causal quiet-time reference of log Ne and log Te for every sample.

Why: a window (~215 km of track) is shorter than a precursor's footprint, so inside one window
a precursor is a near-flat offset, indistinguishable from where and when the pass happens. The
field compares each pass with the same place in quiet times (DEMETER and Swarm statistical
studies); this stage builds that comparison, usable in operations (only the past is read).

Rule, for a sample of half-orbit kind h (day/night) in cell c on UTC day d:
- reference samples: quality 0, Kp <= ``background.kp_max``, kind h, cell c, days
  d - ``background.days`` .. d - 1 (whole previous days: strictly before the sample, never its
  own day or its future; labels are never read);
- the reference is their median and MAD (median absolute deviation) of log10 Ne and log10 Te;
- cells are ``background.cell_deg`` (lat, lon) wide; when fewer than ``background.min_count``
  reference samples exist, the cell grows by each factor of ``background.fallback`` in turn;
  ``ref_level`` says which (0 = finest, -1 = none sufficient: the reference is NaN) and
  ``ref_count`` how many samples it used (at most ``background.max_samples``: a larger set is
  thinned evenly, which leaves the median and MAD statistically unchanged).

Vectorised: reference samples are sorted by (cell, kind, day), so the previous ``days`` days
of one cell form one contiguous slice; medians of all slices are taken at once on padded
blocks of slices of similar length (no per-sample loop).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqnetquake import validate
from seqnetquake.config import BackgroundConfig, Config
from seqnetquake.contracts import BACKGROUND_INPUT_COLUMNS, NS_PER_DAY
from seqnetquake.errors import InputError
from seqnetquake.fileio import atomic_path, write_json
from seqnetquake.geo import to_ns

BLOCK_ELEMENTS = 4_000_000  # padded values per block: bounds memory at ~32 MB per array

# Window channels (windows.features) made from the reference: channels.py.


@dataclass(frozen=True)
class Reference:
    """Per-sample reference (arrays aligned with the input samples)."""

    ne_ref: np.ndarray  # median log10 Ne (cm^-3)
    ne_mad: np.ndarray  # MAD of log10 Ne (dex)
    te_ref: np.ndarray  # median log10 Te (K)
    te_mad: np.ndarray
    ref_count: np.ndarray  # int64: reference samples used (at the chosen level)
    ref_level: np.ndarray  # int8: 0 finest cell, k = k-th fallback, -1 none sufficient


# --------------------------------------------------------------------------- pure functions
def slice_median_mad(
    values: np.ndarray, lo: np.ndarray, n: np.ndarray, max_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD of ``values[lo[i] : lo[i] + n[i]]`` for every i (NaN where n = 0).

    Slices longer than ``max_samples`` are thinned to ``max_samples`` evenly spaced values.
    Slices are processed in blocks of similar length, padded with +inf and sorted row-wise.
    """
    k = len(lo)
    med = np.full(k, np.nan)
    mad = np.full(k, np.nan)
    used = np.minimum(n, max_samples)
    order = np.argsort(used, kind="stable")
    order = order[used[order] > 0]
    start = 0
    while start < len(order):
        end = min(start + max(BLOCK_ELEMENTS // int(used[order[start]]), 1), len(order))
        while end - start > 1 and (end - start) * int(used[order[end - 1]]) > BLOCK_ELEMENTS:
            end = start + (end - start) // 2  # sorted by length: the last row is the widest
        block = order[start:end]
        width = int(used[block].max())
        m = used[block]
        step = n[block] / m  # 1 unless thinned
        j = np.arange(width)
        idx = lo[block, None] + np.floor(j[None, :] * step[:, None]).astype(np.int64)
        pad = j[None, :] >= m[:, None]
        idx[pad] = 0
        v = np.where(pad, np.inf, values[idx])
        v.sort(axis=1)
        r = np.arange(len(block))
        centre = 0.5 * (v[r, (m - 1) // 2] + v[r, m // 2])
        dev = np.where(pad, np.inf, np.abs(v - centre[:, None]))
        dev.sort(axis=1)
        med[block] = centre
        mad[block] = 0.5 * (dev[r, (m - 1) // 2] + dev[r, m // 2])
        start += len(block)
    return med, mad


def cell_keys(lat: np.ndarray, lon: np.ndarray, night: np.ndarray, dlat: float,
              dlon: float) -> np.ndarray:
    """Integer id of (lat cell, lon cell, half-orbit kind)."""
    n_lon = int(np.ceil(360.0 / dlon))
    i_lat = np.floor((np.clip(lat, -90.0, 90.0) + 90.0) / dlat).astype(np.int64)
    i_lon = np.floor((np.mod(lon + 180.0, 360.0)) / dlon).astype(np.int64) % n_lon
    return (i_lat * n_lon + i_lon) * 2 + night.astype(np.int64)


def compute_reference(
    time_ns: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    night: np.ndarray,
    ne_cm3: np.ndarray,
    te_k: np.ndarray,
    kp: np.ndarray,
    quality: np.ndarray,
    cfg: BackgroundConfig,
    targets: np.ndarray | None = None,
) -> Reference:
    """The reference of every sample (module docstring rule); inputs are aligned 1-D arrays.

    ``targets`` (bool mask): compute it only for these samples (the others stay NaN, level -1)
    while every sample may serve as a reference; ``score`` uses it for the new passes alone.
    """
    n = len(time_ns)
    day = np.floor_divide(np.asarray(time_ns, dtype=np.int64), NS_PER_DAY)
    day = day - (day.min() if n else 0)
    n_days = int(day.max()) + 1 if n else 1
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ne = np.log10(np.asarray(ne_cm3, dtype=np.float64))
        log_te = np.log10(np.asarray(te_k, dtype=np.float64))
    placed = np.isfinite(lat) & np.isfinite(lon)
    quiet = (placed & (np.asarray(quality) == 0) & (np.asarray(kp) <= cfg.kp_max)
             & np.isfinite(log_ne) & np.isfinite(log_te))

    out = Reference(
        ne_ref=np.full(n, np.nan), ne_mad=np.full(n, np.nan),
        te_ref=np.full(n, np.nan), te_mad=np.full(n, np.nan),
        ref_count=np.zeros(n, dtype=np.int64), ref_level=np.full(n, -1, dtype=np.int8),
    )
    todo = placed.copy() if targets is None else placed & np.asarray(targets, dtype=bool)
    dlat, dlon = cfg.cell_deg
    for level, factor in enumerate([1.0, *cfg.fallback]):
        if not todo.any():
            break
        cell = cell_keys(lat, lon, night, dlat * factor, dlon * factor)
        key = cell * n_days + day
        q = np.flatnonzero(quiet)
        q = q[np.argsort(key[q], kind="stable")]
        q_key = key[q]
        rows = np.flatnonzero(todo)
        groups, inverse = np.unique(key[rows], return_inverse=True)
        g_cell, g_day = np.divmod(groups, n_days)
        lo = np.searchsorted(q_key, g_cell * n_days + np.maximum(g_day - cfg.days, 0))
        hi = np.searchsorted(q_key, groups)  # side left: day d itself excluded
        count = hi - lo
        ne_med, ne_mad = slice_median_mad(log_ne[q], lo, count, cfg.max_samples)
        te_med, te_mad = slice_median_mad(log_te[q], lo, count, cfg.max_samples)
        last = level == len(cfg.fallback)
        used = np.minimum(count, cfg.max_samples)
        enough = used[inverse] >= cfg.min_count
        take = rows[enough]
        gi = inverse[enough]
        out.ne_ref[take], out.ne_mad[take] = ne_med[gi], ne_mad[gi]
        out.te_ref[take], out.te_mad[take] = te_med[gi], te_mad[gi]
        out.ref_count[take] = used[gi]
        out.ref_level[take] = level
        if last:  # none sufficient: count of the coarsest level, no values
            out.ref_count[rows[~enough]] = used[inverse[~enough]]
        todo[take] = False
    return out


def background_frame(tracks: pd.DataFrame, cfg: BackgroundConfig) -> pd.DataFrame:
    """One output row per track row, in the track table's order."""
    missing = [c for c in BACKGROUND_INPUT_COLUMNS if c not in tracks.columns]
    if missing:
        raise InputError("tracks", ",".join(missing), "missing column")
    ref = compute_reference(
        to_ns(tracks["time"]),
        tracks["lat"].to_numpy(dtype=np.float64),
        tracks["lon"].to_numpy(dtype=np.float64),
        (tracks["half_orbit"] == "night").to_numpy(dtype=bool),
        tracks["ne_cm3"].to_numpy(dtype=np.float64),
        tracks["te_k"].to_numpy(dtype=np.float64),
        tracks["kp"].to_numpy(dtype=np.float64),
        tracks["quality"].to_numpy(dtype=np.int64),
        cfg,
    )
    return pd.DataFrame({
        "time": tracks["time"].to_numpy(),
        "half_orbit_id": tracks["half_orbit_id"].to_numpy(dtype=np.int64),
        "ne_ref": ref.ne_ref, "ne_mad": ref.ne_mad,
        "te_ref": ref.te_ref, "te_mad": ref.te_mad,
        "ref_count": ref.ref_count, "ref_level": ref.ref_level,
    }).assign(time=lambda f: pd.to_datetime(f["time"], utc=True))


def summary(frame: pd.DataFrame, cfg: BackgroundConfig) -> dict[str, Any]:
    """The stage's DVC metrics (no timings: a re-run with equal results leaves them equal)."""
    covered = frame["ref_count"].to_numpy() >= cfg.min_count
    level = frame["ref_level"].to_numpy()
    return {
        "samples": len(frame),
        "coverage_share": float(covered.mean()) if len(frame) else 0.0,
        **{f"samples_level_{k}": int((level == k).sum())
           for k in range(-1, len(cfg.fallback) + 1)},
        "ne_mad_median_dex": float(np.nanmedian(frame["ne_mad"])) if covered.any() else None,
        "te_mad_median_dex": float(np.nanmedian(frame["te_mad"])) if covered.any() else None,
    }


# --------------------------------------------------------------------------- the stage
def run_stage(cfg: Config, satellite: str, tracks_path: Path, out_path: Path,
              metrics_path: Path) -> None:
    """Read one track table, compute, validate (GX suite ``background``), write atomically."""
    tracks_path, out_path = Path(tracks_path), Path(out_path)
    validate.require_columns(tracks_path, BACKGROUND_INPUT_COLUMNS)
    clock = time.perf_counter()
    tracks = pd.read_parquet(tracks_path, columns=list(BACKGROUND_INPUT_COLUMNS))
    frame = background_frame(tracks, cfg.background)
    seconds = time.perf_counter() - clock
    stats = summary(frame, cfg.background)
    print(f"background {satellite}: {stats['samples']} samples, coverage "
          f"{stats['coverage_share']:.3f}, {seconds:.1f} s "
          f"({stats['samples'] / max(seconds, 1e-9):,.0f} samples/s)")
    validate.validate_background(frame, cfg, satellite)
    with atomic_path(out_path) as tmp:
        frame.to_parquet(tmp, index=False)
    write_json(stats, Path(metrics_path))
