"""simulate.variability: seeded, mean-one factors of the right spread, day by day."""

from __future__ import annotations

import numpy as np

from seqnetquake.config import VariabilityConfig
from seqnetquake.simulate import variability

PERIOD_S = 5676.0


def track(days: float, start_day: int = 18_170):
    t = np.arange(0.0, days * 86_400.0, 3.0) + start_day * 86_400.0
    u = 2 * np.pi * t / PERIOD_S
    lat = np.rad2deg(np.arcsin(np.sin(np.deg2rad(97.4)) * np.sin(u)))
    lon = (-t * 360.0 / 86_400.0) % 360.0 - 180.0
    return (t * 1e9).astype(np.int64), lat, lon, (t // (PERIOD_S / 2)).astype(np.int64)


def test_spread_mean_and_correlations():
    cfg = VariabilityConfig()
    t, lat, lon, ho = track(20)
    f_night, g = variability.factors(cfg, 7, 0, t, lat, lon, ho, np.zeros(len(t)))
    f_day, _ = variability.factors(cfg, 7, 0, t, lat, lon, ho, np.ones(len(t)))
    assert abs(f_night.mean() - 1) < 0.05
    assert 0.25 < f_night.std() < 0.36  # ~30 % by night
    assert 0.16 < f_day.std() < 0.24  # ~20 % by day
    assert 0.03 < g.std() < 0.07
    lf = np.log(f_night)
    assert np.corrcoef(lf[:-10], lf[10:])[0, 1] > 0.8  # 30 s apart: correlated along track


def test_seeded_and_day_by_day():
    cfg = VariabilityConfig()
    t, lat, lon, ho = track(3)
    w = np.zeros(len(t))
    a, _ = variability.factors(cfg, 7, 0, t, lat, lon, ho, w)
    b, _ = variability.factors(cfg, 7, 0, t, lat, lon, ho, w)
    assert np.array_equal(a, b)
    c, _ = variability.factors(cfg, 8, 0, t, lat, lon, ho, w)
    assert not np.allclose(a, c)
    # a day simulated alone gets the same factors as inside the period
    day2 = (t // (86_400 * 10**9)) == (t[0] // (86_400 * 10**9)) + 1
    alone, _ = variability.factors(cfg, 7, 0, t[day2], lat[day2], lon[day2], ho[day2], w[day2])
    first = ho[day2][0]
    whole = ho[day2] != first  # the first half-orbit may start the day before
    assert np.allclose(alone[whole], a[day2][whole])


def test_disabled_is_identity():
    cfg = VariabilityConfig(enabled=False)
    t, lat, lon, ho = track(1)
    f, g = variability.factors(cfg, 7, 0, t, lat, lon, ho, np.zeros(len(t)))
    assert (f == 1).all() and (g == 1).all()
