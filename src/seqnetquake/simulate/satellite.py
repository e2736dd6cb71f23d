"""One simulated day of one satellite: geometry -> half-orbits -> background -> storms ->
precursors -> instrument. Pure computation (no files written): ``run_stage`` does the I/O.

A half-orbit runs from one latitude extreme to the next and is named by its equator crossing:
a day's half-orbits are those whose node falls in that UTC day, so splitting a period into
days never cuts one. Day or night side comes from the node's local time (night when it is
between 18 and 06 LT): for CSES the ascending ~02 LT node is night (file digit 1), for DEMETER
the ascending 22:30 LT node is night (orbit type 1). Orbit numbers count ascending nodes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seqnetquake.config import SATELLITES, Config
from seqnetquake.contracts import NS_PER_DAY, NS_PER_H, NS_PER_S, TRUTH_COLUMNS
from seqnetquake.paths import repo_root
from seqnetquake.simulate import instrument, ionosphere, orbit, precursors, storms, variability
from seqnetquake.sources.base import HalfOrbit

MARGIN_NS = NS_PER_H  # > half an orbit: every half-orbit of the day is complete


@dataclass(frozen=True)
class _Pass:
    """One recorded half-orbit before any physics: its identity, plan and sample times."""

    orbit: int
    half: int
    plan: instrument.HalfOrbitPlan
    time_ns: np.ndarray

    @property
    def half_orbit_id(self) -> int:
        return self.orbit * 10 + self.half


@dataclass
class DayResult:
    half_orbits: list[HalfOrbit]
    truth: pd.DataFrame  # one row per perturbed sample
    counts: dict[str, int] = field(default_factory=dict)


def _resolve(path: str) -> str:
    """Params paths are relative to the repository root (where DVC runs the stage)."""
    p = Path(path)
    return str(p if p.is_absolute() or p.exists() else repo_root() / p)


class VirtualSatellite:
    """Simulates days of one satellite against the real Kp and catalogue."""

    def __init__(
        self,
        cfg: Config,
        satellite: str,
        mainshocks: pd.DataFrame,
        kp: pd.DataFrame,
        cache_dir: Path,
    ) -> None:
        self.cfg = cfg
        self.sim = cfg.simulate
        self.satellite = satellite
        self.sat_index = SATELLITES.index(satellite)
        self.period = getattr(self.sim, satellite)
        self.coverage_deg = cfg.missions[satellite].lat_coverage_deg
        self.cache_dir = cache_dir
        self.grid_spec = ionosphere.GridSpec.from_config(self.sim.ionosphere)
        self.f107 = ionosphere.read_f107(self.sim.ionosphere.f107_column)
        self.kp_mid_ns, self.storm_index = storms.storm_index(kp, self.sim.storm)
        start_ns = orbit.to_ns(self.period.start)
        end_ns = orbit.to_ns(self.period.end) + NS_PER_DAY
        self.events = precursors.draw_events(
            mainshocks, self.sim.precursor, self.sim.seed, self.sat_index, start_ns, end_ns
        )
        self._cses: orbit.Orbit | None = None
        self._month_grids: dict[tuple[int, int], ionosphere.NeGrid] = {}
        self.alt_levels_km = self._altitude_levels_km()

    # ------------------------------------------------------------------ geometry
    def days(self) -> list[dt.date]:
        return [d.date() for d in pd.date_range(self.period.start, self.period.end, freq="D")]

    def orbit_for(self, when_ns: int) -> orbit.Orbit:
        o = self.sim.orbit
        if self.satellite == "cses":
            if self._cses is None:
                self._cses = orbit.cses_orbit(_resolve(o.cses_tle))
            return self._cses
        return orbit.demeter_orbit(
            when_ns,
            o.demeter_launch,
            o.demeter_lowered_on,
            o.demeter_altitude_km,
            o.demeter_lowered_altitude_km,
            o.demeter_ascending_node_lt_h,
        )

    def covered(self, trk: orbit.Track, mlat: np.ndarray) -> np.ndarray:
        """CSES records within |geographic lat| <= 65; DEMETER within |invariant lat| <= 65."""
        if self.satellite == "cses":
            return np.abs(trk.lat) <= self.coverage_deg
        return np.abs(orbit.invariant_latitude(mlat, trk.alt_km)) <= self.coverage_deg

    def _altitude_levels_km(self) -> np.ndarray:
        """IRI grid altitudes covering every altitude phase of the mission (one day each).

        Fixed per satellite, not per period, so cached month grids serve any period.
        """
        o = self.sim.orbit
        if self.satellite == "cses":
            phases = [self.orbit_for(0).first_node_ns]
        else:
            phases = [orbit.to_ns(o.demeter_launch), orbit.to_ns(o.demeter_lowered_on)]
        one_day = np.arange(0, NS_PER_DAY, 60 * NS_PER_S)
        alt = np.concatenate(
            [orbit.propagate(self.orbit_for(t), t + one_day).alt_km for t in phases]
        )
        step = self.sim.ionosphere.alt_step_km
        return ionosphere.altitude_levels_km(alt.min() - 10.0, alt.max() + 10.0, step)

    def month_grid(self, year: int, month: int) -> ionosphere.NeGrid:
        """Mid-month PyIRI Ne at that month's F10.7 (81-day mean on the 15th), cached."""
        if (year, month) not in self._month_grids:
            f107 = float(self.f107.asof(pd.Timestamp(year, month, 15)))
            self._month_grids[(year, month)] = ionosphere.month_ne_grid(
                year, month, f107, self.alt_levels_km, self.grid_spec, self.cache_dir
            )
        return self._month_grids[(year, month)]

    def ne_grid(self, day: dt.date) -> ionosphere.NeGrid:
        """The day's Ne grid: the two mid-month grids around it, blended by PyIRI's weights."""
        before, after, w_before, w_after = ionosphere.month_weights(day)
        for key in set(self._month_grids) - {before, after}:
            del self._month_grids[key]  # days run forward: older months are done
        return self.month_grid(*before).blend(self.month_grid(*after), w_before, w_after)

    @staticmethod
    def _geometry(orb: orbit.Orbit, survey: orbit.Track, t_all: np.ndarray) -> orbit.Track:
        """Track at ``t_all``, reusing the survey grid's positions; propagates burst samples."""
        pos = np.minimum(np.searchsorted(survey.time_ns, t_all), len(survey.time_ns) - 1)
        known = survey.time_ns[pos] == t_all
        out = survey.take(pos)
        if not known.all():
            extra = orbit.propagate(orb, t_all[~known])
            for name in ("time_ns", "lat", "lon", "alt_km", "z_km", "vz_km_s"):
                getattr(out, name)[~known] = getattr(extra, name)
        return out

    def _pole(self, when_ns: int) -> tuple[float, float]:
        return orbit.dipole_pole_deg(round(orbit.decimal_year(when_ns), 2))

    # ------------------------------------------------------------------ one day
    def _schedule(self, orb: orbit.Orbit, day_ns: int, pole) -> tuple[orbit.Track, list[_Pass]]:
        """Survey-cadence track of the day (with margins) and the day's recorded half-orbits."""
        cadence_ns = int(round(self.period.survey_cadence_s * NS_PER_S))
        burst_ns = int(round(self.period.burst_cadence_s * NS_PER_S))
        day_end_ns = day_ns + NS_PER_DAY
        trk = orbit.propagate(
            orb, instrument.aligned_grid(day_ns - MARGIN_NS, day_end_ns + MARGIN_NS, cadence_ns)
        )
        covered = self.covered(trk, orbit.magnetic_latitude(trk.lat, trk.lon, pole))
        half_index = orbit.half_orbit_index(trk)
        node_i, node_ns = orbit.find_nodes(trk, day_ns, day_end_ns)
        ascending = trk.z_km[node_i] < 0
        numbers = orbit.orbit_numbers(orb, node_ns, ascending)
        node_lt = orbit.local_time_h(node_ns, trk.lon[node_i])
        night = (node_lt >= 18.0) | (node_lt < 6.0)

        passes = []
        for i_node, number, is_night in zip(node_i, numbers, night, strict=True):
            ho_id = int(number) * 10 + int(is_night)
            rng = instrument.half_orbit_rng(
                self.sim.seed, self.sat_index, instrument.STREAM_PLAN, ho_id
            )
            plan = instrument.draw_plan(self.sim, rng)
            idx = np.flatnonzero((half_index == half_index[i_node]) & covered)
            if plan.missing or len(idx) == 0:
                continue
            region = instrument.in_regions(trk.lat[idx], trk.lon[idx], self.sim.burst_regions)
            times = instrument.sample_times(trk.time_ns[idx], region, plan, burst_ns)
            if len(times):
                passes.append(_Pass(int(number), int(is_night), plan, times))
        return trk, passes

    def simulate_day(self, day: dt.date) -> DayResult:
        """The half-orbits whose equator crossing falls on ``day``, and their truth rows."""
        day_ns = orbit.to_ns(day)
        orb = self.orbit_for(day_ns)
        pole = self._pole(day_ns)
        survey, passes = self._schedule(orb, day_ns, pole)
        if not passes:
            return DayResult([], pd.DataFrame(columns=list(TRUTH_COLUMNS)), {})
        t = np.concatenate([p.time_ns for p in passes])
        if np.any(np.diff(t) <= 0):  # half-orbits are disjoint in time and in order
            raise RuntimeError("simulated sample times are not strictly increasing")
        bounds = np.cumsum([0] + [len(p.time_ns) for p in passes])

        # geometry and sunlight at the sample times
        s = self._geometry(orb, survey, t)
        mlat = orbit.magnetic_latitude(s.lat, s.lon, pole)
        w_day = ionosphere.day_weight(ionosphere.cos_solar_zenith(t, s.lat, s.lon))

        # the plasma: quiet background, storm, precursor
        ne, te = ionosphere.background(
            self.sim.ionosphere,
            self.satellite,
            self.ne_grid(day),
            t,
            s.lat,
            s.lon,
            s.alt_km,
            mlat,
            orbit.local_time_h(t, s.lon),
            w_day,
        )
        f_ne, f_te = variability.factors(
            self.sim.variability, self.sim.seed, self.sat_index, t, s.lat, s.lon,
            np.repeat([p.half_orbit_id for p in passes], np.diff(bounds)), w_day,
        )
        ne, te = ne * f_ne, te * f_te  # day-to-day variability of the quiet background
        storm = storms.index_at(self.kp_mid_ns, self.storm_index, t)
        d_ne_storm, d_te_storm_k = storms.storm_effect(self.sim.storm, storm, np.abs(mlat), w_day)
        d_ne, d_te, strongest = precursors.perturbation(
            self.events, t, s.lat, s.lon, w_day, self.sim.precursor.night_boost
        )
        ne_true = ne * (1.0 + d_ne_storm) * (1.0 + d_ne)
        te_true = (te + d_te_storm_k) * (1.0 + d_te)

        # the instrument, half-orbit by half-orbit
        half_orbits, n_bad = [], 0
        for p, i0, i1 in zip(passes, bounds[:-1], bounds[1:], strict=True):
            rng = instrument.half_orbit_rng(
                self.sim.seed, self.sat_index, instrument.STREAM_NOISE, p.half_orbit_id
            )
            ne_m, te_m, bad = instrument.measure(self.sim, rng, ne_true[i0:i1], te_true[i0:i1])
            n_bad += bad
            half_orbits.append(
                HalfOrbit(
                    satellite=self.satellite,
                    orbit=p.orbit,
                    half=p.half,
                    time=t[i0:i1].astype("datetime64[ns]"),
                    lat=s.lat[i0:i1],
                    lon=s.lon[i0:i1],
                    alt_km=s.alt_km[i0:i1],
                    mlat=mlat[i0:i1],
                    ne_cm3=ne_m,
                    te_k=te_m,
                )
            )

        hit = np.flatnonzero(d_ne != 0.0)
        ho_id = np.repeat([p.half_orbit_id for p in passes], np.diff(bounds))
        truth = pd.DataFrame(
            {
                "time": pd.to_datetime(t[hit], utc=True),
                "half_orbit_id": ho_id[hit].astype(np.int64),
                "event_id": self.events["event_id"].to_numpy()[strongest[hit]],
                "lat": s.lat[hit],
                "lon": s.lon[hit],
                "delta_ne_rel": d_ne[hit],
                "delta_te_rel": d_te[hit],
            }
        )
        counts = {
            "half_orbits": len(half_orbits),
            "samples": len(t),
            "burst_half_orbits": sum(p.plan.burst for p in passes),
            "gap_half_orbits": sum(p.plan.gap_position >= 0 for p in passes),
            "bad_records": n_bad,
            "perturbed_samples": len(hit),
            "samples_near_events": precursors.near_event_count(
                self.events, t, s.lat, s.lon, self.cfg.windows.lead_days
            ),
        }
        return DayResult(half_orbits, truth, counts)
