"""Window channels (``windows.features``): the raw measurements, and residuals against the
causal quiet-time background that the background stage writes.

``ne_cm3``, ``te_k``: the track table's values. ``*_resid``: log10(x / reference) in dex;
``*_z``: that divided by MAD_TO_SIGMA x max(MAD, ``background.mad_floor``); ``*_detr``: the
``*_resid`` less its running median over +- ``background.detrend_km`` along the same pass.
Day-to-day variability is smooth over thousands of km, a precursor a few hundred km wide
(docs/windows.md, "Channels"), so the pass's own trend removes most of what the reference of
earlier days cannot; it reads the pass itself only, never a later one. The windows stage
(:func:`add_channels` from the background table) and ``score`` (:func:`channels_from_reference`
from a reference computed on the fly) make them by the same rule; the channel names are in
``windowcheck``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seqnetquake.config import BackgroundConfig
from seqnetquake.errors import InputError
from seqnetquake.geo import to_ns
from seqnetquake.windowcheck import (
    CHANNELS,
    PHYSICAL_CHANNELS,
    RESIDUAL_CHANNELS,
    needs_background,
)

MAD_TO_SIGMA = 1.4826  # MAD x this = standard deviation of a normal distribution
# Ground-track speed that turns background.detrend_km into a time window: CSES (507 km) 7.05,
# DEMETER (660-710 km) 6.8 km/s; the window is in time so that gaps inside a pass stay gaps.
GROUND_SPEED_KM_S = 7.0
_PASS_SPACING_NS = 10**15  # > any pass (~12 days): passes laid end to end never share a window


def along_track_trend(values: np.ndarray, time_ns: np.ndarray, passes: np.ndarray,
                      half_width_km: float) -> np.ndarray:
    """Running median of ``values`` over +- ``half_width_km`` of the same pass (NaN ignored)."""
    n = len(values)
    if n == 0:
        return np.zeros(0)
    order = np.lexsort((time_ns, passes))
    rank = np.cumsum(np.r_[False, np.diff(passes[order]) != 0])
    # One rolling window over all passes, each pass shifted far from the previous one.
    clock = (time_ns[order] - time_ns[order].min()) + rank * _PASS_SPACING_NS
    width_ns = int(round(2 * half_width_km / GROUND_SPEED_KM_S * 1e9))
    series = pd.Series(values[order], index=pd.to_datetime(clock))
    trend = series.rolling(pd.Timedelta(width_ns, "ns"), center=True, min_periods=1).median()
    out = np.empty(n)
    out[order] = trend.to_numpy()
    return out


def channels_from_reference(
    features: list[str], ne_cm3: np.ndarray, te_k: np.ndarray, ref: dict[str, np.ndarray],
    cfg: BackgroundConfig, passes: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The requested window channels (CHANNELS) from the raw values and the reference;
    ``passes`` (sample times in ns, half-orbit ids) for the ``*_detr`` channels."""
    unknown = [f for f in features if f not in CHANNELS]
    if unknown:
        raise ValueError(f"windows.features: unknown channel(s) {unknown}; known: "
                         f"{', '.join(CHANNELS)}")
    with np.errstate(divide="ignore", invalid="ignore"):
        resid = {
            "ne": np.log10(ne_cm3) - ref["ne_ref"],
            "te": np.log10(te_k) - ref["te_ref"],
        }
    out: dict[str, np.ndarray] = {}
    for f in features:
        var, kind = f.split("_", 1)
        if f in PHYSICAL_CHANNELS:
            out[f] = np.asarray(ne_cm3 if var == "ne" else te_k, dtype=np.float64)
        elif kind == "resid":
            out[f] = resid[var]
        elif kind == "detr":
            if passes is None:
                raise ValueError(f"channel {f}: needs the samples' times and half-orbit ids")
            out[f] = resid[var] - along_track_trend(resid[var], *passes, cfg.detrend_km)
        else:
            sigma = MAD_TO_SIGMA * np.maximum(ref[f"{var}_mad"], cfg.mad_floor)
            out[f] = resid[var] / sigma
    return out


def add_channels(tracks: pd.DataFrame, features: list[str], background_path: Path | None,
                 cfg: BackgroundConfig) -> pd.DataFrame:
    """Add the residual channels of ``features`` to ``tracks`` from the background table.

    Rows are matched by sample time (the background has one row per track sample); a track
    sample without a background row is an InputError naming the first one.
    """
    if not needs_background(features):
        return tracks
    if background_path is None:
        raise InputError("windows.features", ",".join(features),
                         "residual channels need the background table (--background)")
    path = Path(background_path)
    try:
        bg = pd.read_parquet(path, columns=["time", "ne_ref", "ne_mad", "te_ref", "te_mad"])
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(path, "file", f"not a readable background table: {exc}") from exc
    bg_ns, tr_ns = to_ns(bg["time"]), to_ns(tracks["time"])
    if np.any(np.diff(bg_ns) < 0):
        order = np.argsort(bg_ns, kind="stable")
        bg, bg_ns = bg.iloc[order].reset_index(drop=True), bg_ns[order]
    idx = np.clip(np.searchsorted(bg_ns, tr_ns), 0, max(len(bg_ns) - 1, 0))
    missing = (len(bg_ns) == 0) | (bg_ns[idx] != tr_ns) if len(tr_ns) else np.zeros(0, bool)
    if np.any(missing):
        row = int(np.argmax(missing))
        raise InputError(path, "time", f"no reference for track sample {tracks['time'].iloc[row]}"
                         f" (row {row})")
    ref = {c: bg[c].to_numpy(dtype=np.float64)[idx] for c in ("ne_ref", "ne_mad", "te_ref",
                                                                "te_mad")}
    channels = channels_from_reference(
        [f for f in features if f in RESIDUAL_CHANNELS],
        tracks["ne_cm3"].to_numpy(dtype=np.float64), tracks["te_k"].to_numpy(dtype=np.float64),
        ref, cfg, pass_clock(tracks),
    )
    return tracks.assign(**channels)


def pass_clock(tracks: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(time in ns, half-orbit id) of every sample: what the along-track trend needs."""
    return to_ns(tracks["time"]), tracks["half_orbit_id"].to_numpy(dtype=np.int64)


def track_columns(features: list[str]) -> list[str]:
    """Track-table columns the channels are made of (residuals need both raw values)."""
    if needs_background(features):
        return list(PHYSICAL_CHANNELS)
    return [f for f in features]
