"""The Langmuir probe as an instrument: cadence, burst mode, gaps, noise and bad records.

- Cadence: survey samples on a grid aligned to whole multiples of the cadence since
  1970-01-01, so consecutive days and half-orbits join without phase jumps (CSES LAP 3 s,
  DEMETER ISL 1 s). Burst mode (faster sampling; CSES runs it over China and seismic belts):
  a half-orbit that crosses a burst region records the stretch from its first to its last
  sample inside the regions at the burst cadence, with probability ``burst_fraction``.
- Gaps: with ``gap_probability`` per half-orbit, one telemetry gap of lognormal length
  (median ``gap_median_s``) at a uniform position; with ``missing_half_orbit_probability`` the
  whole half-orbit is never delivered (no file).
- Noise: multiplicative lognormal, sigma ``noise_sigma`` (about 10 % relative accuracy), on
  Ne and Te independently; values are then held inside the instrument ranges (Ne 5e2-1e7
  cm^-3, Te 500-10000 K), as a real probe saturates.
- Bad records, at ``bad_record_rate`` per sample: half are fill values (Ne and Te both set
  to ``fill_value``), half are spikes (Ne and Te multiplied by ``spike_factor``). The tracks
  stage must find and flag them; they are the only values outside the instrument ranges or
  off by more than the tracks' spike threshold.

Every random draw of a half-orbit comes from a generator keyed by (seed, satellite, purpose,
half-orbit id), so a half-orbit's data do not depend on which period is simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqnetquake.config import SimulateConfig
from seqnetquake.contracts import NS_PER_S

NE_RANGE_CM3 = (5e2, 1e7)
TE_RANGE_K = (500.0, 10_000.0)
STREAM_PLAN, STREAM_NOISE = 1, 2


def half_orbit_rng(seed: int, satellite_index: int, stream: int, half_orbit_id: int):
    return np.random.default_rng([seed, satellite_index, stream, half_orbit_id])


def aligned_grid(start_ns: int, end_ns: int, cadence_ns: int) -> np.ndarray:
    """Times k * cadence in [start, end)."""
    first = -(-start_ns // cadence_ns) * cadence_ns
    return np.arange(first, end_ns, cadence_ns, dtype=np.int64)


def in_regions(lat: np.ndarray, lon: np.ndarray, regions) -> np.ndarray:
    inside = np.zeros(len(lat), dtype=bool)
    for lat_min, lat_max, lon_min, lon_max in regions:
        inside |= (lat >= lat_min) & (lat <= lat_max) & (lon >= lon_min) & (lon <= lon_max)
    return inside


@dataclass(frozen=True)
class HalfOrbitPlan:
    """What the instrument does on one half-orbit (drawn before any sample exists)."""

    missing: bool
    burst: bool
    gap_position: float  # fraction of the half-orbit's span; < 0: no gap
    gap_s: float


def draw_plan(cfg: SimulateConfig, rng: np.random.Generator) -> HalfOrbitPlan:
    u_missing, u_burst, u_gap, u_pos = rng.random(4)
    gap_s = cfg.gap_median_s * float(np.exp(cfg.gap_sigma * rng.standard_normal()))
    has_gap = u_gap < cfg.gap_probability
    return HalfOrbitPlan(
        missing=bool(u_missing < cfg.missing_half_orbit_probability),
        burst=bool(u_burst < cfg.burst_fraction),
        gap_position=float(u_pos) if has_gap else -1.0,
        gap_s=gap_s,
    )


def sample_times(
    survey_ns: np.ndarray,
    in_burst_region: np.ndarray,
    plan: HalfOrbitPlan,
    burst_cadence_ns: int,
) -> np.ndarray:
    """Final sample times of one half-orbit from its survey times and its plan."""
    times = survey_ns
    if plan.burst and in_burst_region.any():
        t0, t1 = survey_ns[in_burst_region][[0, -1]]
        burst = aligned_grid(int(t0), int(t1) + 1, burst_cadence_ns)
        times = np.union1d(survey_ns[(survey_ns < t0) | (survey_ns > t1)], burst)
    if plan.gap_position >= 0 and len(times):
        g0 = times[0] + plan.gap_position * (times[-1] - times[0])
        times = times[(times < g0) | (times >= g0 + plan.gap_s * NS_PER_S)]
    return times


def measure(
    cfg: SimulateConfig, rng: np.random.Generator, ne_cm3: np.ndarray, te_k: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Noisy, range-limited measurements with planted bad records; returns (ne, te, n_bad)."""
    n = len(ne_cm3)
    ne = np.clip(ne_cm3 * np.exp(cfg.noise_sigma * rng.standard_normal(n)), *NE_RANGE_CM3)
    te = np.clip(te_k * np.exp(cfg.noise_sigma * rng.standard_normal(n)), *TE_RANGE_K)
    bad = np.flatnonzero(rng.random(n) < cfg.bad_record_rate)
    fill = rng.random(len(bad)) < 0.5
    ne[bad[fill]] = cfg.fill_value
    te[bad[fill]] = cfg.fill_value
    ne[bad[~fill]] *= cfg.spike_factor
    te[bad[~fill]] *= cfg.spike_factor
    return ne, te, len(bad)
