"""Alarm evaluation: space-time grid, alarm function, Molchan trajectory, ASS, random bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqnetquake import alarms as al

DAY0 = np.datetime64("2019-10-01", "D")


def grid(n_days: int = 30, cell: float = 10.0) -> al.Grid:
    return al.Grid(cell, 60.0, DAY0, n_days)


def at(day: float) -> np.datetime64:
    return DAY0.astype("datetime64[ns]") + np.timedelta64(int(day * 86400), "s")


def test_grid_cells_weights_and_days():
    g = grid()
    assert (g.n_lat, g.n_lon) == (12, 36)
    cells = g.cell(np.array([-60.0, 0.0, 59.9, 61.0, 5.0]), np.array([-180.0, 0.0, 179.9, 0, 185]))
    assert cells[0] == 0 and cells[2] == g.n_cells - 1 and cells[3] == -1
    assert cells[4] == g.cell(np.array([5.0]), np.array([-175.0]))[0]  # longitude wraps
    w = g.weights()
    assert w.shape == (30, g.n_cells) and math.isclose(w.sum(), 1.0)
    assert w[0, g.cell(np.array([0.0]), np.array([0.0]))[0]] > w[0, 0]  # equator cells larger
    assert list(g.day(np.array([at(0.5), at(29.9), at(-0.1)]))) == [0, 29, -1]


def test_a_pass_alarms_its_cell_for_the_lead_time_with_its_largest_score():
    g = grid()
    lat, lon = np.array([5.0, 5.0, 5.0, 80.0]), np.array([5.0, 5.0, 5.0, 5.0])
    t0 = np.array([at(2.3), at(3.1), at(20.0), at(2.0)])
    values = al.alarm_function(g, lat, lon, t0, np.array([0.4, 0.7, 0.1, 0.99]), lead_days=3)
    c = g.cell(np.array([5.0]), np.array([5.0]))[0]
    col = values[:, c]
    assert np.isneginf(col[:2]).all()
    assert list(col[2:6]) == [0.4, 0.7, 0.7, 0.7] and np.isneginf(col[6])
    assert list(col[20:23]) == [0.1, 0.1, 0.1]
    # the pass at 80 deg lies outside the band: nothing else is alarmed
    assert np.isfinite(values).sum() == 4 + 3


def test_perfect_forecast_scores_near_one_and_random_near_half():
    rng = np.random.default_rng(0)
    g = grid(60)
    w = g.weights()
    target = rng.choice(w.size, 300, replace=False)
    perfect = np.zeros(w.size)
    perfect[target] = 1.0
    m = al.molchan(perfect, w, target)
    assert m.ass > 0.99 and m.n_targets == 300
    assert (m.tau[0], m.nu[0], m.tau[-1], m.nu[-1]) == (0.0, 1.0, 1.0, 0.0)
    assert np.all(np.diff(m.tau) >= 0) and np.all(np.diff(m.nu) <= 0)
    assert m.nu[1] == 0.0 and m.tau[1] < 0.02  # all caught at ~1 % of space-time

    lo, hi = al.ass_bounds(300)
    random_ass = [al.molchan(rng.random(w.size), w, target).ass for _ in range(20)]
    assert all(lo - 0.03 < a < hi + 0.03 for a in random_ass)
    assert abs(np.mean(random_ass) - 0.5) < 0.02
    # the inverse forecast is worse than random; ties (one constant value) are the diagonal
    assert al.molchan(-perfect, w, target).ass < 0.05
    flat = al.molchan(np.zeros(w.size), w, target)
    assert math.isclose(flat.ass, 0.5) and list(flat.tau) == [0.0, 1.0]


def test_random_guess_band_and_ass_bounds():
    tau = np.array([0.0, 0.25, 0.5, 1.0])
    low, high = al.random_band(100, tau, 0.95)
    assert (low[0], high[0], low[-1], high[-1]) == (1.0, 1.0, 0.0, 0.0)
    assert 0.38 <= low[2] < 0.5 < high[2] <= 0.62  # Binomial(100, 0.5): 50 +- ~10 hits
    assert np.all(low <= 1 - tau) and np.all(high >= 1 - tau)
    lo, hi = al.ass_bounds(100, 0.95)
    assert math.isclose(hi - 0.5, 1.959964 * math.sqrt(1 / 1200), rel_tol=1e-5)
    assert math.isclose(lo + hi, 1.0)
    assert al.ass_bounds(400)[1] < hi  # more targets, tighter


def test_relative_intensity_and_targets():
    g = grid(10)
    ri = al.relative_intensity(g, np.array([5.0, 5.0, -30.0]), np.array([5.0, 6.0, 100.0]))
    c = g.cell(np.array([5.0, -30.0]), np.array([5.0, 100.0]))
    assert ri.shape == (10, g.n_cells) and ri[3, c[0]] == 2 and ri[9, c[1]] == 1
    assert ri.sum() == 10 * 3
    idx = al.targets(g, np.array([5.0, 5.0, 70.0]), np.array([5.0, 5.0, 0.0]),
                     np.array([at(1.5), at(12.0), at(1.0)]))
    assert list(idx) == [1 * g.n_cells + c[0]]  # day 12 is outside, 70 deg outside the band
    with pytest.raises(ValueError, match="no target"):
        al.molchan(ri, g.weights(), np.array([], dtype=np.int64))


def test_plot(tmp_path):
    g = grid(10)
    w = g.weights()
    m = al.molchan(np.random.default_rng(1).random(w.size), w, np.arange(0, w.size, 97))
    path = tmp_path / "molchan.png"
    al.plot_molchan({"random": m}, path, confidence=0.95, stamp="data_kind=simulated",
                    title="test")
    assert path.read_bytes()[:4] == b"\x89PNG"
