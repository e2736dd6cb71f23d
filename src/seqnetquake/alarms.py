"""Alarm-based evaluation: how many mainshocks the alarms catch at what share of space-time.

A model's window probabilities become alarms on a space-time grid of ``cell_deg`` x ``cell_deg``
degree cells and days: a pass over a cell whose window has P(seismic) >= a threshold alarms that
cell for ``lead_days`` days from the pass (a precursor precedes its earthquake by up to the lead
time the labels use). The *alarm function* of a (cell, day) is the largest P(seismic) of the
passes that alarm it; (cell, day) pairs no pass reaches are never alarmed before the last step.

Scored against the catalogue's mainshocks of the test period with the Molchan diagram (Molchan
1990; Zechar & Jordan 2008, Geophys. J. Int. 172:715): for every threshold, the miss rate ``nu``
against the area-weighted fraction of space-time alarmed ``tau``. A forecast no better than
chance follows the diagonal ``nu = 1 - tau``; with N targets its hits at ``tau`` are
Binomial(N, tau), which gives the random-guess band. The area skill score (ASS) is the area
above the trajectory, ``integral (1 - nu) d tau``: 0.5 for a random forecast (null sd
``sqrt(1 / 12N)``), near 1 for a perfect one. Ties (same alarm function value) are spread
linearly, as a random order among them would on average.

pycsep (0.8) has a Molchan diagram, but for a spatial ``GriddedForecast`` of rates over one time
window, not for space-time alarms, without the binomial band, and it imports cartopy, obspy and
rasterio at start: so this module follows Zechar & Jordan directly (docs/study.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import binom, norm

DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class Grid:
    """``cell_deg`` cells over latitudes [-lat_max, lat_max] and all longitudes, by day."""

    cell_deg: float
    lat_max: float
    day0: np.datetime64  # first day (datetime64[D])
    n_days: int

    @property
    def n_lat(self) -> int:
        return int(math.ceil(2 * self.lat_max / self.cell_deg))

    @property
    def n_lon(self) -> int:
        return int(math.ceil(360.0 / self.cell_deg))

    @property
    def n_cells(self) -> int:
        return self.n_lat * self.n_lon

    def cell(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Cell index of each point, -1 outside the latitude band."""
        lat = np.asarray(lat, dtype=float)
        lon = np.mod(np.asarray(lon, dtype=float) + 180.0, 360.0)
        i = np.floor((lat + self.lat_max) / self.cell_deg).astype(np.int64)
        j = np.minimum(np.floor(lon / self.cell_deg).astype(np.int64), self.n_lon - 1)
        inside = (np.abs(lat) <= self.lat_max) & np.isfinite(lat) & np.isfinite(lon)
        i = np.clip(i, 0, self.n_lat - 1)
        return np.where(inside, i * self.n_lon + j, -1)

    def day(self, time: np.ndarray) -> np.ndarray:
        """Day index of each time (may lie outside 0 .. n_days - 1)."""
        t = np.asarray(time, dtype="datetime64[ns]")
        return ((t - self.day0.astype("datetime64[ns]")) // DAY).astype(np.int64)

    def weights(self) -> np.ndarray:
        """(n_days, n_cells) space-time measure: each cell's area share, the same every day."""
        edges = np.radians(-self.lat_max + self.cell_deg * np.arange(self.n_lat + 1))
        edges = np.clip(edges, -np.radians(self.lat_max), np.radians(self.lat_max))
        band = np.diff(np.sin(edges))
        area = np.repeat(band, self.n_lon) / self.n_lon
        return np.broadcast_to(area / area.sum() / self.n_days, (self.n_days, self.n_cells))


def grid_for(t0: np.ndarray, cell_deg: float, lat_max: float) -> Grid:
    """The grid over the days of ``t0`` (first to last window day, inclusive)."""
    days = np.asarray(t0, dtype="datetime64[ns]").astype("datetime64[D]")
    if not len(days):
        raise ValueError("no windows: no test period to build alarms over")
    return Grid(cell_deg, lat_max, days.min(), int((days.max() - days.min()) // DAY) + 1)


def alarm_function(grid: Grid, lat: np.ndarray, lon: np.ndarray, t0: np.ndarray,
                   score: np.ndarray, lead_days: float) -> np.ndarray:
    """(n_days, n_cells): the largest score of the passes alarming each (cell, day); -inf none.

    A pass on day d alarms its cell on days d .. d + ceil(lead_days) - 1.
    """
    values = np.full((grid.n_days, grid.n_cells), -np.inf)
    cell, day = grid.cell(lat, lon), grid.day(t0)
    score = np.asarray(score, dtype=float)
    keep = (cell >= 0) & np.isfinite(score)
    cell, day, score = cell[keep], day[keep], score[keep]
    for offset in range(max(1, int(math.ceil(lead_days)))):
        d = day + offset
        ok = (d >= 0) & (d < grid.n_days)
        np.maximum.at(values, (d[ok], cell[ok]), score[ok])
    return values


def targets(grid: Grid, lat: np.ndarray, lon: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Flat (day * n_cells + cell) index of each target inside the grid's space and time."""
    cell, day = grid.cell(lat, lon), grid.day(time)
    ok = (cell >= 0) & (day >= 0) & (day < grid.n_days)
    return day[ok] * grid.n_cells + cell[ok]


def relative_intensity(grid: Grid, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Geography alone: each cell's count of earlier epicentres, the same every day.

    The standard CSEP reference forecast (relative intensity): it alarms where earthquakes were,
    which real epicentres on plate boundaries make a strong forecast without any ionosphere.
    """
    cell = grid.cell(lat, lon)
    counts = np.bincount(cell[cell >= 0], minlength=grid.n_cells).astype(float)
    return np.broadcast_to(counts, (grid.n_days, grid.n_cells)).copy()


@dataclass(frozen=True)
class Molchan:
    """A Molchan trajectory: ``tau`` and ``nu`` from (0, 1) to (1, 0), one point per threshold."""

    tau: np.ndarray
    nu: np.ndarray
    threshold: np.ndarray  # alarm when value >= threshold; first point +inf (no alarm)
    ass: float
    n_targets: int

    def to_dict(self) -> dict[str, object]:
        return {"ass": self.ass, "n_targets": self.n_targets,
                "tau": [round(float(v), 6) for v in self.tau],
                "nu": [round(float(v), 6) for v in self.nu],
                "threshold": [None if not np.isfinite(v) else round(float(v), 6)
                              for v in self.threshold]}


def molchan(values: np.ndarray, weights: np.ndarray, target_index: np.ndarray) -> Molchan:
    """The trajectory and ASS of an alarm function against targets (flat indices).

    Thresholds are the distinct values, largest first; lowering the threshold to a value adds
    all (cell, day) pairs of that value at once (ties move linearly).
    """
    v = np.asarray(values, dtype=float).ravel()
    w = np.asarray(weights, dtype=float).ravel()
    hits_at = np.bincount(np.asarray(target_index, dtype=np.int64), minlength=len(v))
    n = int(hits_at.sum())
    if n == 0:
        raise ValueError("no target earthquake in the alarm grid: no Molchan diagram")
    levels, group = np.unique(-v, return_inverse=True)  # ascending -v: largest value first
    w_group = np.bincount(group, weights=w, minlength=len(levels))
    h_group = np.bincount(group, weights=hits_at, minlength=len(levels))
    tau = np.concatenate([[0.0], np.cumsum(w_group) / w.sum()])
    hit = np.concatenate([[0.0], np.cumsum(h_group) / n])
    tau[-1], hit[-1] = 1.0, 1.0
    ass = float(np.trapezoid(hit, tau))
    return Molchan(tau=tau, nu=1.0 - hit, threshold=np.concatenate([[np.inf], -levels]),
                   ass=ass, n_targets=n)


def random_band(n_targets: int, tau: np.ndarray, confidence: float = 0.95
                ) -> tuple[np.ndarray, np.ndarray]:
    """(nu_low, nu_high): where a random forecast's miss rate lies with ``confidence``.

    Hits of a random alarm covering ``tau`` are Binomial(N, tau).
    """
    tau = np.asarray(tau, dtype=float)
    alpha = 1.0 - confidence
    hits_high = binom.ppf(1 - alpha / 2, n_targets, tau)
    hits_low = binom.ppf(alpha / 2, n_targets, tau)
    return 1.0 - hits_high / n_targets, 1.0 - hits_low / n_targets


def ass_bounds(n_targets: int, confidence: float = 0.95) -> tuple[float, float]:
    """Where a random forecast's ASS lies: 0.5 +- z sqrt(1 / 12N) (Zechar & Jordan 2008)."""
    half = float(norm.ppf(0.5 + confidence / 2)) * math.sqrt(1.0 / (12.0 * n_targets))
    return 0.5 - half, 0.5 + half


def plot_molchan(curves: dict[str, Molchan], path: Path, *, confidence: float, stamp: str,
                 title: str) -> None:
    """Trajectories, the diagonal and its binomial band (for the smallest N of the curves)."""
    from matplotlib.figure import Figure  # deferred: heavy

    fig = Figure(figsize=(6, 5.4))
    ax = fig.add_subplot()
    n = min(c.n_targets for c in curves.values())
    grid = np.linspace(0, 1, 201)
    low, high = random_band(n, grid, confidence)
    ax.fill_between(grid, low, high, color="0.85", step="mid",
                    label=f"random guess, {confidence:.0%} band (N={n})")
    ax.plot([0, 1], [1, 0], color="0.4", lw=1, ls="--")
    for name, c in curves.items():
        lo, hi = ass_bounds(c.n_targets, confidence)
        ax.plot(c.tau, c.nu, lw=1.6,
                label=f"{name}: ASS {c.ass:.2f} (random {lo:.2f}-{hi:.2f}, N={c.n_targets})")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="fraction of space-time alarmed (tau)",
           ylabel="miss rate (nu)", title=title)
    ax.legend(fontsize=7, loc="upper right")
    fig.text(0.01, 0.005, stamp, fontsize=7, color="firebrick")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, format="png")
