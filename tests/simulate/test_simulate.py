"""The virtual satellite: orbit geometry, ranges, determinism, injected precursors, round trip.

Each simulation here covers one day on a coarse PyIRI grid (shared across the module), so the
whole file runs in well under a minute on two cores.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from seqnetquake import simulate as simulate_stage
from seqnetquake.cli import app
from seqnetquake.config import load_config
from seqnetquake.contracts import NS_PER_DAY, NS_PER_H, NS_PER_S, TRUTH_COLUMNS
from seqnetquake.kp import load_kp
from seqnetquake.simulate import instrument, orbit, storms
from seqnetquake.simulate.satellite import VirtualSatellite
from seqnetquake.sources.formats import format_for

REPO = Path(__file__).resolve().parents[2]
CSES_DAY = dt.date(2019, 10, 2)
DEMETER_DAY = dt.date(2007, 1, 10)
H = NS_PER_H


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def kp(cfg) -> pd.DataFrame:
    return load_kp(cfg)


@pytest.fixture(scope="module")
def iri_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("iri")


def sim_config(cfg, satellite: str, day: dt.date, precursor: dict | None = None, **simulate):
    """params.yaml with a one-day period, a coarse PyIRI grid and the given overrides."""
    sim = cfg.simulate
    period = getattr(sim, satellite).model_copy(update={"start": day, "end": day})
    iono = sim.ionosphere.model_copy(
        update={"ut_step_h": 1.0, "lat_step_deg": 5.0, "lon_step_deg": 10.0}
    )
    update = {satellite: period, "ionosphere": iono, **simulate}
    if precursor is not None:
        update["precursor"] = sim.precursor.model_copy(update=precursor)
    return cfg.model_copy(update={"simulate": sim.model_copy(update=update)})


def no_events() -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": pd.Series([], dtype=str),
        "time": pd.Series([], dtype="datetime64[ns, UTC]"),
        "latitude": [], "longitude": [], "magnitude": [], "kind": pd.Series([], dtype=str),
    })


def simulate(cfg, satellite, day, kp, cache, events=None, **overrides):
    c = sim_config(cfg, satellite, day, **overrides)
    sat = VirtualSatellite(c, satellite, no_events() if events is None else events, kp, cache)
    return sat, sat.simulate_day(day)


def node_local_times(orb: orbit.Orbit, day: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """(ascending, descending) node local times over one day, hours."""
    t0 = orbit.to_ns(day)
    trk = orbit.propagate(orb, np.arange(t0, t0 + NS_PER_DAY, 10 * NS_PER_S))
    i, node_ns = orbit.find_nodes(trk, t0, t0 + NS_PER_DAY)
    lt = orbit.local_time_h(node_ns, trk.lon[i])
    up = trk.z_km[i] < 0
    return lt[up], lt[~up]


# --------------------------------------------------------------------------- orbits
def test_cses_orbit_geometry_from_the_real_tle():
    orb = orbit.cses_orbit(REPO / "data/external/satellite/cses_tle_2019-11.txt")
    assert np.degrees(orb.satrec.inclo) == pytest.approx(97.41, abs=0.01)
    assert 86_400 / orb.nodal_period_s == pytest.approx(15.2, abs=0.02)  # 76 orbits / 5 days
    for day in (dt.date(2018, 8, 1), dt.date(2019, 11, 18), dt.date(2020, 6, 22)):
        up, down = node_local_times(orb, day)
        assert np.abs(up - 1.9).max() < 0.25  # night side, ascending (~02 LT)
        assert np.abs(down - 13.9).max() < 0.25  # day side, descending (~14 LT)
        t0 = orbit.to_ns(day)
        trk = orbit.propagate(orb, np.arange(t0, t0 + NS_PER_DAY, 30 * NS_PER_S))
        assert trk.alt_km.min() >= 480 and trk.alt_km.max() <= 560
        assert trk.lat.max() == pytest.approx(180 - 97.41, abs=0.3)


@pytest.mark.parametrize(
    ("day", "alt_range_km", "inclination_deg"),
    [(dt.date(2005, 3, 1), (700, 740), 98.23), (dt.date(2008, 6, 1), (650, 690), 98.03)],
)
def test_demeter_orbit_is_sun_synchronous_at_2230_lt(cfg, day, alt_range_km, inclination_deg):
    o = cfg.simulate.orbit
    orb = orbit.demeter_orbit(
        orbit.to_ns(day), o.demeter_launch, o.demeter_lowered_on, o.demeter_altitude_km,
        o.demeter_lowered_altitude_km, o.demeter_ascending_node_lt_h,
    )
    assert np.degrees(orb.satrec.inclo) == pytest.approx(inclination_deg, abs=0.05)
    assert orb.nodal_period_s / 60 == pytest.approx(98.5, abs=1.0)  # ~99 min, ~14.6 orbits/day
    up, down = node_local_times(orb, day)
    assert np.abs(up - 22.5).max() < 0.1  # night, upward (orbit type 1)
    assert np.abs(down - 10.5).max() < 0.1  # day, downward (orbit type 0)
    t0 = orbit.to_ns(day)
    alt = orbit.propagate(orb, np.arange(t0, t0 + NS_PER_DAY, 60 * NS_PER_S)).alt_km
    assert alt_range_km[0] <= alt.min() and alt.max() <= alt_range_km[1]


def test_dipole_pole_and_invariant_latitude():
    lat, lon = orbit.dipole_pole_deg(2020.0)
    assert (lat, lon) == (pytest.approx(80.6, abs=0.2), pytest.approx(-72.7, abs=0.3))
    assert orbit.magnetic_latitude(np.array([lat]), np.array([lon]), (lat, lon))[0] == (
        pytest.approx(90.0)
    )
    # a field line from the magnetic equator at 700 km reaches the ground at ~18 deg
    assert orbit.invariant_latitude(np.array([0.0]), np.array([700.0]))[0] == pytest.approx(
        18.3, abs=0.2
    )


# --------------------------------------------------------------------------- one simulated day
def test_cses_half_orbits_coverage_and_day_night(cfg, kp, iri_cache):
    _, day = simulate(cfg, "cses", CSES_DAY, kp, iri_cache)
    assert 25 <= len(day.half_orbits) <= 31  # 30.4 half-orbits a day, minus missing files
    ids = [ho.half_orbit_id for ho in day.half_orbits]
    assert len(set(ids)) == len(ids)
    for ho in day.half_orbits:
        assert np.abs(ho.lat).max() <= 65.0
        assert np.all(np.diff(ho.time.astype(np.int64)) > 0)
        eq = np.abs(ho.lat) < 5
        lt = orbit.local_time_h(ho.time[eq].astype(np.int64), ho.lon[eq])
        expected = 1.9 if ho.half == 1 else 13.9
        assert np.abs(lt - expected).max() < 0.5
        # night = ascending (northbound) on CSES
        assert (np.diff(ho.lat[eq]).mean() > 0) == (ho.half == 1)
        steps = np.diff(ho.time.astype(np.int64)) / 1e9
        assert set(np.round(steps[steps < 4], 3)) <= {1.5, 3.0}


def test_demeter_covers_invariant_latitude_65(cfg, kp, iri_cache):
    _, day = simulate(cfg, "demeter", DEMETER_DAY, kp, iri_cache)
    for ho in day.half_orbits:
        inv = orbit.invariant_latitude(ho.mlat, ho.alt_km)
        assert np.abs(inv).max() <= 65.0
        assert np.abs(ho.lat).max() > 50  # invariant, not geographic, latitude bounds it
        eq = np.abs(ho.lat) < 5
        lt = orbit.local_time_h(ho.time[eq].astype(np.int64), ho.lon[eq])
        assert np.abs(lt - (22.5 if ho.half == 1 else 10.5)).max() < 0.5


def test_values_in_instrument_ranges_except_planted_bad_records(cfg, kp, iri_cache):
    sim, day = simulate(cfg, "cses", CSES_DAY, kp, iri_cache, bad_record_rate=0.005)
    ne = np.concatenate([ho.ne_cm3 for ho in day.half_orbits])
    te = np.concatenate([ho.te_k for ho in day.half_orbits])
    fill = sim.sim.fill_value
    # fills set both to the fill value; spikes multiply both by 30, which puts Te > 10000 K
    bad = (te == fill) | (te > instrument.TE_RANGE_K[1])
    assert bad.sum() == day.counts["bad_records"] > 0
    assert ((ne == fill) == (te == fill)).all()
    lo, hi = instrument.NE_RANGE_CM3
    assert ((ne[~bad] >= lo) & (ne[~bad] <= hi)).all()
    assert ((te[~bad] >= instrument.TE_RANGE_K[0]) & (te[~bad] <= instrument.TE_RANGE_K[1])).all()
    # day side denser and hotter than the ~02 LT night side at low latitude
    by_half = {h: [x for x in day.half_orbits if x.half == h] for h in (0, 1)}
    med = {
        h: (np.median(np.concatenate([x.ne_cm3[np.abs(x.mlat) < 20] for x in hos])),
            np.median(np.concatenate([x.te_k[np.abs(x.mlat) < 20] for x in hos])))
        for h, hos in by_half.items()
    }
    assert med[0][0] > 2 * med[1][0] and med[0][1] > med[1][1] + 200


def test_same_seed_same_arrays_other_seed_differs(cfg, kp, iri_cache):
    _, a = simulate(cfg, "cses", CSES_DAY, kp, iri_cache)
    _, b = simulate(cfg, "cses", CSES_DAY, kp, iri_cache)
    _, c = simulate(cfg, "cses", CSES_DAY, kp, iri_cache, seed=cfg.simulate.seed + 1)
    assert [h.half_orbit_id for h in a.half_orbits] == [h.half_orbit_id for h in b.half_orbits]
    for x, y in zip(a.half_orbits, b.half_orbits, strict=True):
        for name in ("time", "lat", "lon", "alt_km", "mlat", "ne_cm3", "te_k"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
    ne_a = np.concatenate([h.ne_cm3 for h in a.half_orbits])
    ne_c = np.concatenate([h.ne_cm3 for h in c.half_orbits])
    assert len(ne_a) != len(ne_c) or not np.array_equal(ne_a, ne_c)


def test_injected_precursor_is_in_the_data_where_the_truth_says(cfg, kp, iri_cache):
    _, quiet = simulate(cfg, "cses", CSES_DAY, kp, iri_cache)
    # put an M7 under a night pass at 20 N, two days before the shock
    ho = next(h for h in quiet.half_orbits if h.half == 1 and np.abs(h.lat - 20).min() < 0.2)
    k = int(np.argmin(np.abs(ho.lat - 20)))
    t0 = pd.Timestamp(ho.time[k], tz="UTC")
    events = pd.DataFrame({
        "event_id": ["test:m7"], "time": [t0 + pd.Timedelta(days=2)], "latitude": [ho.lat[k]],
        "longitude": [ho.lon[k]], "magnitude": [7.0], "kind": ["mainshock"],
    })
    profile = [0.0] * 15
    profile[1] = 1.0  # lead day 2 only
    on = dict(none_fraction=0.0, lead_profile=profile, duration_days=3.0,
              equatorward_shift_deg_min=0.0, equatorward_shift_deg_max=0.0)
    sat_on, with_p = simulate(cfg, "cses", CSES_DAY, kp, iri_cache, events, precursor=on)
    sat_off, without = simulate(
        cfg, "cses", CSES_DAY, kp, iri_cache, events, precursor={**on, "none_fraction": 1.0}
    )
    assert sat_on.events["injected"].tolist() == [True]
    assert sat_off.events["injected"].tolist() == [False]
    assert without.truth.empty and len(with_p.truth) > 20
    assert set(with_p.truth["event_id"]) == {"test:m7"}

    def frame(day):
        return pd.DataFrame({
            "time": pd.to_datetime(np.concatenate([h.time for h in day.half_orbits]), utc=True),
            "ne": np.concatenate([h.ne_cm3 for h in day.half_orbits]),
            "te": np.concatenate([h.te_k for h in day.half_orbits]),
        }).set_index("time")

    a, b = frame(with_p), frame(without)
    assert a.index.equals(b.index)  # same seed: same samples, same noise
    ratio_ne, ratio_te = a["ne"] / b["ne"], a["te"] / b["te"]
    truth = with_p.truth.set_index("time")
    hit = a.index.isin(truth.index)
    at = truth.loc[a.index[hit]]
    np.testing.assert_allclose(ratio_ne[hit], 1 + at["delta_ne_rel"], rtol=1e-9)
    np.testing.assert_allclose(ratio_te[hit], 1 + at["delta_te_rel"], rtol=1e-9)
    np.testing.assert_array_equal(ratio_ne[~hit], 1.0)
    amplitude = sat_on.events["amplitude_ne_rel"].iloc[0]
    assert truth["delta_ne_rel"].max() == pytest.approx(amplitude * 1.5, rel=0.1)  # night boost


def test_zero_amplitude_twin_has_empty_truth_and_the_same_background(cfg, kp, iri_cache):
    """simulate.precursor.amplitude_scale = 0 (benchmark twin): no perturbation, no truth rows,
    and every sample otherwise identical to the default run with the same seed."""
    _, quiet = simulate(cfg, "cses", CSES_DAY, kp, iri_cache)
    ho = next(h for h in quiet.half_orbits if h.half == 1 and np.abs(h.lat - 20).min() < 0.2)
    k = int(np.argmin(np.abs(ho.lat - 20)))
    events = pd.DataFrame({
        "event_id": ["test:m7"], "time": [pd.Timestamp(ho.time[k], tz="UTC")
                                          + pd.Timedelta(days=2)],
        "latitude": [ho.lat[k]], "longitude": [ho.lon[k]], "magnitude": [7.0],
        "kind": ["mainshock"],
    })
    profile = [0.0] * 15
    profile[1] = 1.0
    on = dict(none_fraction=0.0, lead_profile=profile, duration_days=3.0)
    sat1, default = simulate(cfg, "cses", CSES_DAY, kp, iri_cache, events, precursor=on)
    sat0, twin = simulate(cfg, "cses", CSES_DAY, kp, iri_cache, events,
                          precursor={**on, "amplitude_scale": 0.0})
    _, double = simulate(cfg, "cses", CSES_DAY, kp, iri_cache, events,
                         precursor={**on, "amplitude_scale": 2.0})
    assert len(default.truth) > 20 and twin.truth.empty
    assert sat0.events["injected"].tolist() == [False]
    assert sat0.events["amplitude_ne_rel"].tolist() == [0.0]
    assert sat1.events.drop(columns=["injected", "amplitude_ne_rel", "amplitude_te_rel"]).equals(
        sat0.events.drop(columns=["injected", "amplitude_ne_rel", "amplitude_te_rel"]))
    np.testing.assert_allclose(double.truth["delta_ne_rel"], 2 * default.truth["delta_ne_rel"])
    hit = set(default.truth["time"].to_numpy(dtype="datetime64[ns]").tolist())
    assert [h.half_orbit_id for h in twin.half_orbits] == [
        h.half_orbit_id for h in default.half_orbits]
    for a, b in zip(default.half_orbits, twin.half_orbits, strict=True):
        np.testing.assert_array_equal(a.time, b.time)
        np.testing.assert_array_equal(a.lat, b.lat)
        clean = ~np.isin(a.time.astype("datetime64[ns]").tolist(), list(hit))
        np.testing.assert_array_equal(a.ne_cm3[clean], b.ne_cm3[clean])
        np.testing.assert_array_equal(a.te_k[clean], b.te_k[clean])
    assert twin.counts["perturbed_samples"] == 0 < default.counts["perturbed_samples"]


def test_storm_index_rises_at_once_and_recovers(cfg):
    st = cfg.simulate.storm
    start = pd.date_range("2019-01-01", periods=80, freq="3h", tz="UTC")
    kp = pd.DataFrame({"start": start, "end": start + pd.Timedelta(hours=3), "kp": 0.0})
    kp.loc[8, "kp"] = st.kp_reference
    mid, index = storms.storm_index(kp, st)
    assert index[:8].max() == 0.0 and index[8] == pytest.approx(1.0)
    days_later = 8 + int(st.recovery_days * 8)  # 8 intervals a day
    assert index[days_later] == pytest.approx(np.exp(-1), rel=0.05)
    d_ne, d_te = storms.storm_effect(st, np.ones(3), np.array([0.0, 70.0, 70.0]),
                                     np.array([1.0, 0.0, 1.0]))
    assert d_ne.tolist() == pytest.approx([st.day_ne_rel, st.night_highlat_ne_rel, st.day_ne_rel])
    assert d_te.tolist() == pytest.approx([st.day_te_k, st.night_te_k, st.day_te_k])


# --------------------------------------------------------------------------- the stage
def _stage_inputs(tmp_path: Path, cfg, kp: pd.DataFrame, satellite: str, day: dt.date):
    """params file, catalogue and Kp tables as the DVC stage gets them."""
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(sim_config(cfg, satellite, day).model_dump(mode="json")))
    catalog = tmp_path / "catalog.parquet"
    events = pd.DataFrame({
        "event_id": ["test:a", "test:b"],
        "time": pd.to_datetime([day + dt.timedelta(days=3), day + dt.timedelta(days=5)], utc=True),
        "latitude": [30.0, -10.0], "longitude": [100.0, -70.0], "depth_km": [10.0, 30.0],
        "magnitude": [6.5, 5.5], "source": ["test", "test"], "kind": ["mainshock", "aftershock"],
    })
    events.to_parquet(catalog)
    kp_path = tmp_path / "kp.parquet"
    kp.to_parquet(kp_path)
    return params, catalog, kp_path


@pytest.mark.parametrize(("satellite", "day"), [("cses", CSES_DAY), ("demeter", DEMETER_DAY)])
def test_stage_round_trip_through_the_readers(
    tmp_path, cfg, kp, iri_cache, mlflow_uri, satellite, day
):
    params, catalog, kp_path = _stage_inputs(tmp_path, cfg, kp, satellite, day)
    out = tmp_path / "raw"
    args = ["simulate", satellite, "--params", str(params), "--catalog", str(catalog),
            "--kp", str(kp_path), "--cache-dir", str(iri_cache), "--out-dir", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    source = format_for(satellite)
    files = sorted(out.glob(f"*{source.SUFFIX}"))
    assert len(files) > 10
    read = {ho.half_orbit_id: ho for ho in map(source.read_half_orbit, files)}
    sat = VirtualSatellite(
        load_config(params), satellite,
        pd.read_parquet(catalog).query("kind == 'mainshock'"), kp, iri_cache,
    )
    expected = sat.simulate_day(day)
    assert sorted(read) == sorted(h.half_orbit_id for h in expected.half_orbits)
    for ho in expected.half_orbits:
        got = read[ho.half_orbit_id]
        assert (got.orbit, got.half) == (ho.orbit, ho.half)
        np.testing.assert_array_equal(got.time, ho.time)
        for name in ("lat", "lon", "alt_km", "mlat"):
            np.testing.assert_allclose(getattr(got, name), getattr(ho, name), atol=1e-3)
        ok = ho.te_k != sat.sim.fill_value
        np.testing.assert_allclose(got.ne_cm3[ok], ho.ne_cm3[ok], rtol=1e-6)
        np.testing.assert_allclose(got.te_k[ok], ho.te_k[ok], rtol=1e-6)

    truth = pd.read_parquet(out / "truth.parquet")
    assert list(truth.columns) == list(TRUTH_COLUMNS) == [
        "time", "half_orbit_id", "event_id", "lat", "lon", "delta_ne_rel", "delta_te_rel"
    ]
    events = pd.read_parquet(out / "truth_events.parquet")
    assert events["event_id"].tolist() == ["test:a"]  # aftershocks carry no precursor


def test_stage_output_is_byte_identical_when_rerun(tmp_path, cfg, kp, iri_cache, mlflow_uri):
    params, catalog, kp_path = _stage_inputs(tmp_path, cfg, kp, "cses", CSES_DAY)
    c = load_config(params)
    for name in ("a", "b"):
        simulate_stage.run_stage(c, "cses", catalog, kp_path, iri_cache, tmp_path / name)
    files_a = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files_a == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert len(files_a) > 20
    for name in files_a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
