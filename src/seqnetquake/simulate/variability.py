"""Day-to-day variability of the quiet background (docs/simulator.md, "Variability").

Climatological models (IRI) give a monthly mean; the real ionosphere departs from it by
~20 % (day) to ~30 % (night) in NmF2 at mid-latitudes from one day to the next (Forbes et al.
2000; Rishbeth & Mendillo 2001). Without it a quiet-time reference would be unrealistically
easy. Each sample's Ne and Te are multiplied by exp(sigma x), x a standard normal field with

- a **day-to-day** part: per UTC day, independent normals on a coarse grid (``cell_deg``),
  bilinearly interpolated (spatially smooth), made serially correlated by a truncated AR(1)
  sum over the previous ``MEMORY_DAYS`` days with lag-1 correlation ``day_correlation``;
- a **per-pass** part: normals every ``along_track_km`` of track (7.5 km/s), linearly
  interpolated along the half-orbit (along-track correlation), new for every half-orbit;
- mixed as sqrt(1 - pass_share) day-to-day + sqrt(pass_share) per-pass (unit variance
  everywhere: interpolation's loss of variance between knots is divided out).

sigma for Ne is the lognormal equivalent of ``ne_day_std`` / ``ne_night_std`` blended by the
sunlit weight; Te uses ``te_std`` with its own draws. Everything is drawn from generators
seeded by (seed, satellite, stream, day or half-orbit): no state carried between days, so a day
simulates the same alone or in a period.
"""

from __future__ import annotations

import numpy as np

from seqnetquake.config import VariabilityConfig
from seqnetquake.contracts import NS_PER_DAY, NS_PER_S

STREAM_DAY = 11  # generator streams (instrument.py uses 1 and 2)
STREAM_PASS = 12
SPEED_KM_S = 7.5  # orbital ground speed at 500-700 km
MEMORY_DAYS = 10  # AR(1) truncated after this many days (0.4**10 ~ 1e-4)
DAY_OFFSET = 1_000_000  # seeds must be non-negative: days before 1970 still seed


def lognormal_sigma(relative_std: np.ndarray | float) -> np.ndarray:
    """sigma of ln f for a lognormal factor f of mean 1 and relative std ``relative_std``."""
    return np.sqrt(np.log1p(np.square(relative_std)))


def _interp_std(u: np.ndarray) -> np.ndarray:
    """Std of (1 - u) a + u b for independent unit normals a, b: divided out, so that the
    interpolated field has unit variance everywhere, not only at the knots."""
    return np.sqrt((1 - u) ** 2 + u**2)


def _grid_normals(seed: int, sat: int, stream: int, day: int, shape: tuple[int, int]
                  ) -> np.ndarray:
    rng = np.random.default_rng([seed, sat, stream, STREAM_DAY, day + DAY_OFFSET])
    return rng.standard_normal(shape)


def day_field(cfg: VariabilityConfig, seed: int, sat: int, stream: int, day: int,
              lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Unit-variance (at the grid nodes) day-to-day field of one UTC day at the samples."""
    dlat, dlon = cfg.cell_deg
    n_lat, n_lon = int(np.ceil(180.0 / dlat)) + 1, int(np.ceil(360.0 / dlon))
    a = cfg.day_correlation
    weights = a ** np.arange(MEMORY_DAYS + 1)
    weights /= np.sqrt(np.sum(weights**2))
    grid = sum(w * _grid_normals(seed, sat, stream, day - j, (n_lat, n_lon))
               for j, w in enumerate(weights))
    y = (np.clip(lat, -90.0, 90.0) + 90.0) / dlat
    x = np.mod(lon + 180.0, 360.0) / dlon
    i0 = np.minimum(np.floor(y).astype(np.int64), n_lat - 2)
    j0 = np.floor(x).astype(np.int64) % n_lon
    j1 = (j0 + 1) % n_lon  # longitude wraps
    fy, fx = y - i0, x - np.floor(x)
    value = ((1 - fy) * (1 - fx) * grid[i0, j0] + (1 - fy) * fx * grid[i0, j1]
             + fy * (1 - fx) * grid[i0 + 1, j0] + fy * fx * grid[i0 + 1, j1])
    return value / (_interp_std(fy) * _interp_std(fx))


def pass_field(cfg: VariabilityConfig, seed: int, sat: int, stream: int, half_orbit_id: int,
               time_ns: np.ndarray) -> np.ndarray:
    """Along-track correlated normals of one half-orbit at its sample times."""
    rng = np.random.default_rng([seed, sat, stream, STREAM_PASS, half_orbit_id])
    step_s = cfg.along_track_km / SPEED_KM_S
    t = (time_ns - time_ns[0]) / NS_PER_S
    knots = rng.standard_normal(int(t[-1] // step_s) + 2)
    u = t / step_s
    return np.interp(u, np.arange(len(knots)), knots) / _interp_std(u - np.floor(u))


def factors(cfg: VariabilityConfig, seed: int, sat: int, time_ns: np.ndarray, lat: np.ndarray,
            lon: np.ndarray, half_orbit_id: np.ndarray, w_day: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicative (Ne, Te) factors of the samples (ones when disabled)."""
    n = len(time_ns)
    if not cfg.enabled or n == 0:
        return np.ones(n), np.ones(n)
    day = np.floor_divide(np.asarray(time_ns, dtype=np.int64), NS_PER_DAY)
    out = []
    for stream, sigma in ((0, lognormal_sigma(cfg.ne_day_std * w_day
                                              + cfg.ne_night_std * (1 - w_day))),
                          (1, lognormal_sigma(cfg.te_std))):
        x_day = np.empty(n)
        for d in np.unique(day):
            rows = day == d
            x_day[rows] = day_field(cfg, seed, sat, stream, int(d), lat[rows], lon[rows])
        x_pass = np.empty(n)
        change = np.flatnonzero(np.diff(half_orbit_id)) + 1
        for i0, i1 in zip(np.r_[0, change], np.r_[change, n], strict=True):
            x_pass[i0:i1] = pass_field(cfg, seed, sat, stream, int(half_orbit_id[i0]),
                                       time_ns[i0:i1])
        x = np.sqrt(1 - cfg.pass_share) * x_day + np.sqrt(cfg.pass_share) * x_pass
        out.append(np.exp(sigma * x - 0.5 * sigma**2))  # mean 1
    return out[0], out[1]
