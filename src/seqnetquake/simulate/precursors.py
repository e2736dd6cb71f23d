"""Injected pre-earthquake Ne/Te perturbations around the real catalogue's mainshocks.

Defaults follow the reports summarised in SIMULATOR-NOTES (Zeng et al., Wenchuan; Akhoondzadeh
2010; Yan et al. 2022; Liu et al., 82 events Ms >= 7; CSES statistics, Frontiers
10.3389/feart.2022.811658): Ne +10 to +40 %, Te smaller with either sign, 1-15 days before
the shock with clusters at 2-5, 9-11 and 13-14 days, a footprint of about the Dobrovolsky
radius ``R = 10^(0.43 M)`` km displaced 5-20 deg toward the magnetic equator, stronger at
night, growing with magnitude, and absent for many events.

Per event (all draws from a generator keyed by the event id, so an event gets the same
perturbation whatever period is simulated): injected with probability ``1 - none_fraction``;
relative Ne amplitude ``A = median * exp(sigma z) * max(0, 1 + slope (M - 5))``; Te amplitude
``+-te_amplitude_ratio * A``; a lead day k drawn with the ``lead_profile`` weights, lead time
``k + U(-0.5, 0.5)`` days clipped to [lead_days_min, lead_days_max]; active for
``duration_days`` centred on ``t_eq - lead`` (never after the shock); centre moved
equatorward by ``U(shift_min, shift_max)`` deg of latitude, but not past the dipole equator.

Per sample inside an active window: ``dNe/Ne = A w(d) n``, with the spatial taper
``w = cos^2(pi d / 2R')`` inside ``R' = footprint_scale R`` (zero beyond) and the night factor
``n = 1 + (night_boost - 1)(1 - day weight)``; overlapping events add.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from seqnetquake.config import PrecursorConfig
from seqnetquake.contracts import NS_PER_DAY, TRUTH_EVENT_COLUMNS
from seqnetquake.geo import EARTH_RADIUS_KM, dobrovolsky_radius_km, haversine_km
from seqnetquake.simulate.orbit import decimal_year, dipole_pole_deg, magnetic_latitude


def within_km(
    lat: np.ndarray, lon: np.ndarray, centre_lat: float, centre_lon: float, radius_km: float
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, distances km) of the points closer than ``radius_km`` to the centre.

    A latitude band test first (one comparison per point) so that the great-circle distance
    is computed only for the few points that can be inside.
    """
    band_deg = np.degrees(radius_km / EARTH_RADIUS_KM)
    idx = np.flatnonzero(np.abs(lat - centre_lat) < band_deg)
    d_km = haversine_km(lat[idx], lon[idx], centre_lat, centre_lon)
    inside = d_km < radius_km
    return idx[inside], d_km[inside]


def event_rng(seed: int, satellite_index: int, event_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, satellite_index, 3, zlib.crc32(event_id.encode())])


def draw_events(
    mainshocks: pd.DataFrame,
    cfg: PrecursorConfig,
    seed: int,
    satellite_index: int,
    start_ns: int,
    end_ns: int,
) -> pd.DataFrame:
    """The per-event injection table for shocks that can perturb samples in [start, end)."""
    reach_ns = int((cfg.lead_days_max + cfg.duration_days) * NS_PER_DAY)
    t_eq = mainshocks["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    shocks = mainshocks[(t_eq >= start_ns) & (t_eq < end_ns + reach_ns)]
    shocks = shocks.sort_values(["time", "event_id"]).reset_index(drop=True)
    days = np.arange(1, len(cfg.lead_profile) + 1, dtype=float)
    weights = np.asarray(cfg.lead_profile, dtype=float)
    weights = np.where((days >= cfg.lead_days_min) & (days <= cfg.lead_days_max), weights, 0.0)
    if weights.sum() <= 0:
        raise ValueError("precursor.lead_profile has no weight between lead_days_min and _max")
    weights /= weights.sum()

    n = len(shocks)
    draws = np.empty((n, 6))
    for i, event_id in enumerate(shocks["event_id"]):  # one generator per event: stable draws
        rng = event_rng(seed, satellite_index, str(event_id))
        draws[i] = [rng.random(), rng.standard_normal(), *rng.random(4)]
    u_none, z_amp, u_lead, u_frac, u_shift, u_sign = draws.T

    magnitude = shocks["magnitude"].to_numpy(dtype=float)
    injected = u_none >= cfg.none_fraction
    amplitude = (
        cfg.ne_amplitude_median
        * np.exp(cfg.ne_amplitude_sigma * z_amp)
        * np.maximum(0.0, 1.0 + cfg.magnitude_slope * (magnitude - 5.0))
    )
    amplitude = np.where(injected, amplitude * cfg.amplitude_scale, 0.0)
    injected &= cfg.amplitude_scale > 0  # the zero-amplitude twin writes no perturbation
    te_sign = np.where(u_sign < 0.5, -1.0, 1.0)
    lead_day = days[
        np.minimum(np.searchsorted(np.cumsum(weights), u_lead, side="right"), len(days) - 1)
    ]
    lead_days = np.clip(lead_day + u_frac - 0.5, cfg.lead_days_min, cfg.lead_days_max)

    t_shock = shocks["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    centre_ns = t_shock - (lead_days * NS_PER_DAY).astype(np.int64)
    half_ns = int(cfg.duration_days * NS_PER_DAY / 2)
    lat = shocks["latitude"].to_numpy(dtype=float)
    lon = shocks["longitude"].to_numpy(dtype=float)
    mlat = (
        np.array(
            [
                magnetic_latitude(la, lo, dipole_pole_deg(round(decimal_year(t), 2)))
                for la, lo, t in zip(lat, lon, t_shock, strict=True)
            ]
        )
        if n
        else np.zeros(0)
    )
    shift = cfg.equatorward_shift_deg_min + u_shift * (
        cfg.equatorward_shift_deg_max - cfg.equatorward_shift_deg_min
    )
    shift = np.minimum(shift, np.abs(mlat))  # toward the magnetic equator, not across it

    return pd.DataFrame(
        {
            "event_id": shocks["event_id"].astype(str).to_numpy(),
            "time": pd.to_datetime(t_shock, utc=True),
            "latitude": lat,
            "longitude": lon,
            "magnitude": magnitude,
            "injected": injected,
            "amplitude_ne_rel": amplitude,
            "amplitude_te_rel": te_sign * cfg.te_amplitude_ratio * amplitude,
            "lead_days": lead_days,
            "start": pd.to_datetime(centre_ns - half_ns, utc=True),
            "end": pd.to_datetime(np.minimum(centre_ns + half_ns, t_shock), utc=True),
            "footprint_km": cfg.footprint_scale * dobrovolsky_radius_km(magnitude),
            "shift_deg": shift,
            "centre_lat": lat - np.sign(mlat) * shift,
            "centre_lon": lon,
        }
    )[list(TRUTH_EVENT_COLUMNS)]


def _ns(col: pd.Series) -> np.ndarray:
    return col.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def perturbation(
    events: pd.DataFrame,
    time_ns: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    w_day: np.ndarray,
    night_boost: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dNe/Ne, dTe/Te, index of the strongest event or -1) per sample.

    ``time_ns`` must be sorted: each event touches only the slice of samples inside its active
    window (found by binary search), so the cost is the samples near events, not samples x
    events. The loop is over the few events active in the batch, never over samples.
    """
    n = len(time_ns)
    d_ne, d_te = np.zeros(n), np.zeros(n)
    strongest, best = np.full(n, -1, dtype=np.int64), np.zeros(n)
    live = np.flatnonzero(events["injected"].to_numpy())
    lo = np.searchsorted(time_ns, _ns(events["start"])[live], side="left")
    hi = np.searchsorted(time_ns, _ns(events["end"])[live], side="right")
    for k, i0, i1 in zip(live, lo, hi, strict=True):
        if i1 <= i0:
            continue
        ev = events.iloc[k]
        radius = ev["footprint_km"]
        idx, d_km = within_km(lat[i0:i1], lon[i0:i1], ev["centre_lat"], ev["centre_lon"], radius)
        idx += i0
        w = np.cos(np.pi * d_km / (2.0 * radius)) ** 2
        w *= 1.0 + (night_boost - 1.0) * (1.0 - w_day[idx])
        d_ne[idx] += ev["amplitude_ne_rel"] * w
        d_te[idx] += ev["amplitude_te_rel"] * w
        stronger = w * ev["amplitude_ne_rel"] > best[idx]
        best[idx[stronger]] = (w * ev["amplitude_ne_rel"])[stronger]
        strongest[idx[stronger]] = k
    return d_ne, d_te, strongest


def near_event_count(
    events: pd.DataFrame, time_ns: np.ndarray, lat: np.ndarray, lon: np.ndarray, lead_days: float
) -> int:
    """Samples within the Dobrovolsky radius of a shock in the ``lead_days`` before it.

    The windows stage's positive-label region (one of its radii): a yardstick for how much
    labelled data a simulated period yields. Counts each sample once.
    """
    near = np.zeros(len(time_ns), dtype=bool)
    t_eq = _ns(events["time"])
    lo = np.searchsorted(time_ns, t_eq - int(lead_days * NS_PER_DAY), side="left")
    hi = np.searchsorted(time_ns, t_eq, side="right")
    radius = dobrovolsky_radius_km(events["magnitude"].to_numpy(dtype=float))
    ev_lat, ev_lon = events["latitude"].to_numpy(float), events["longitude"].to_numpy(float)
    for k in np.flatnonzero(hi > lo):
        idx, _ = within_km(lat[lo[k] : hi[k]], lon[lo[k] : hi[k]], ev_lat[k], ev_lon[k], radius[k])
        near[idx + lo[k]] = True
    return int(near.sum())
