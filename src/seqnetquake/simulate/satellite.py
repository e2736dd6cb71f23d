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

import numpy as np
import pandas as pd

from seqnetquake.config import SATELLITES, Config
from seqnetquake.simulate import instrument, ionosphere, orbit, precursors, storms
from seqnetquake.sources.base import HalfOrbit

MARGIN_NS = 3600 * orbit.NS_PER_S  # > half an orbit: every half-orbit of the day is complete
TRUTH_COLUMNS = ["time", "half_orbit_id", "event_id", "lat", "lon", "delta_ne_rel", "delta_te_rel"]


@dataclass
class DayResult:
    half_orbits: list[HalfOrbit]
    truth: pd.DataFrame  # one row per perturbed sample
    counts: dict[str, int] = field(default_factory=dict)


def _resolve(path: str) -> str:
    """Params paths are relative to the repository root (where DVC runs the stage)."""
    from pathlib import Path

    from seqnetquake.tracking import repo_root

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
        cache_dir,
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
        self.end_ns = orbit.to_ns(self.period.end) + orbit.NS_PER_DAY
        self.events = precursors.draw_events(
            mainshocks, self.sim.precursor, self.sim.seed, self.sat_index, start_ns, self.end_ns
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
            when_ns, o.demeter_launch, o.demeter_lowered_on, o.demeter_altitude_km,
            o.demeter_lowered_altitude_km, o.demeter_ascending_node_lt_h,
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
        alt = np.concatenate([
            orbit.propagate(self.orbit_for(t), t + np.arange(0, orbit.NS_PER_DAY, 60 * orbit.NS_PER_S)).alt_km
            for t in phases
        ])
        return ionosphere.altitude_levels_km(alt.min() - 10.0, alt.max() + 10.0, self.sim.ionosphere.alt_step_km)

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
    def simulate_day(self, day: dt.date) -> DayResult:
        day_ns = orbit.to_ns(day)
        orb = self.orbit_for(day_ns)
        pole = self._pole(day_ns)
        cadence_ns = int(round(self.period.survey_cadence_s * orbit.NS_PER_S))
        burst_ns = int(round(self.period.burst_cadence_s * orbit.NS_PER_S))

        # 1. survey-cadence geometry with a margin, split at latitude extremes
        t = instrument.aligned_grid(day_ns - MARGIN_NS, day_ns + orbit.NS_PER_DAY + MARGIN_NS, cadence_ns)
        trk = orbit.propagate(orb, t)
        mlat = orbit.magnetic_latitude(trk.lat, trk.lon, pole)
        covered = self.covered(trk, mlat)
        half_index = np.concatenate([[0], np.cumsum(np.sign(trk.vz_km_s[1:]) != np.sign(trk.vz_km_s[:-1]))])
        cross = np.flatnonzero(np.sign(trk.z_km[1:]) != np.sign(trk.z_km[:-1]))
        node_ns = t[cross] + ((-trk.z_km[cross] / (trk.z_km[cross + 1] - trk.z_km[cross])) * cadence_ns).astype(np.int64)
        keep = (node_ns >= day_ns) & (node_ns < day_ns + orbit.NS_PER_DAY)
        cross, node_ns = cross[keep], node_ns[keep]
        ascending = trk.z_km[cross] < 0
        numbers = orbit.orbit_numbers(orb, node_ns, ascending)
        node_lt = orbit.local_time_h(node_ns, trk.lon[cross])
        night = (node_lt >= 18.0) | (node_lt < 6.0)

        # 2. the instrument's plan and sample times, per half-orbit
        plans, times, ho_of_sample, hos = [], [], [], []
        for k, (i_node, number, is_night) in enumerate(zip(cross, numbers, night, strict=True)):
            half = int(is_night)
            ho_id = int(number) * 10 + half
            plan = instrument.draw_plan(
                self.sim, instrument.half_orbit_rng(self.sim.seed, self.sat_index, instrument.STREAM_PLAN, ho_id)
            )
            if plan.missing:
                continue
            idx = np.flatnonzero((half_index == half_index[i_node]) & covered)
            if len(idx) == 0:
                continue
            region = instrument.in_regions(trk.lat[idx], trk.lon[idx], self.sim.burst_regions)
            ts = instrument.sample_times(t[idx], region, plan, burst_ns)
            if len(ts) == 0:
                continue
            plans.append(plan)
            hos.append((int(number), half, ho_id))
            times.append(ts)
            ho_of_sample.append(np.full(len(ts), len(hos) - 1))
        if not times:
            return DayResult([], pd.DataFrame(columns=TRUTH_COLUMNS), {})
        t_all = np.concatenate(times)
        ho_all = np.concatenate(ho_of_sample)
        if np.any(np.diff(t_all) <= 0):  # half-orbits are disjoint in time and in order
            raise RuntimeError("simulated sample times are not strictly increasing")

        # 3. geometry at the sample times: survey samples are already propagated
        s = self._geometry(orb, trk, t_all)
        mlat = orbit.magnetic_latitude(s.lat, s.lon, pole)
        lt = orbit.local_time_h(t_all, s.lon)
        w_day = ionosphere.day_weight(ionosphere.cos_solar_zenith(t_all, s.lat, s.lon))

        # 4. background, storms, precursors
        ne, te = ionosphere.background(self.sim.ionosphere, self.satellite, self.ne_grid(day), t_all, s.lat, s.lon, s.alt_km, mlat, lt, w_day)
        s_index = storms.index_at(self.kp_mid_ns, self.storm_index, t_all)
        d_ne_storm, d_te_storm = storms.storm_effect(self.sim.storm, s_index, np.abs(mlat), w_day)
        d_ne, d_te, strongest = precursors.perturbation(
            self.events, t_all, s.lat, s.lon, w_day, self.sim.precursor.night_boost
        )
        ne_true = ne * (1.0 + d_ne_storm) * (1.0 + d_ne)
        te_true = (te + d_te_storm) * (1.0 + d_te)

        # 5. the instrument, half-orbit by half-orbit (contiguous runs of the sorted samples)
        bounds = np.searchsorted(ho_all, np.arange(len(hos) + 1))
        result, n_bad = [], 0
        for k, (number, half, ho_id) in enumerate(hos):
            sel = slice(bounds[k], bounds[k + 1])
            rng = instrument.half_orbit_rng(self.sim.seed, self.sat_index, instrument.STREAM_NOISE, ho_id)
            ne_m, te_m, bad = instrument.measure(self.sim, rng, ne_true[sel], te_true[sel])
            n_bad += bad
            result.append(HalfOrbit(
                satellite=self.satellite, orbit=number, half=half,
                time=t_all[sel].astype("datetime64[ns]"), lat=s.lat[sel], lon=s.lon[sel],
                alt_km=s.alt_km[sel], mlat=mlat[sel], ne_cm3=ne_m, te_k=te_m,
            ))

        hit = np.flatnonzero(d_ne != 0.0)
        ho_ids = np.array([h[2] for h in hos], dtype=np.int64)
        truth = pd.DataFrame({
            "time": pd.to_datetime(t_all[hit], utc=True),
            "half_orbit_id": ho_ids[ho_all[hit]],
            "event_id": self.events["event_id"].to_numpy()[strongest[hit]],
            "lat": s.lat[hit],
            "lon": s.lon[hit],
            "delta_ne_rel": d_ne[hit],
            "delta_te_rel": d_te[hit],
        })
        counts = {
            "half_orbits": len(result),
            "samples": len(t_all),
            "burst_half_orbits": sum(p.burst for p in plans),
            "gap_half_orbits": sum(p.gap_position >= 0 for p in plans),
            "bad_records": n_bad,
            "perturbed_samples": len(hit),
            "samples_near_events": precursors.near_event_count(
                self.events, t_all, s.lat, s.lon, self.cfg.windows.lead_days
            ),
        }
        return DayResult(result, truth, counts)
