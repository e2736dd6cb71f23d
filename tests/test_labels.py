"""The labelling rules (DESIGN §3, labels.py) on hand-built samples and catalogues.

A sample's label: 1 inside a real mainshock's window (great-circle distance <= radius, time in
[event - lead_days, event)), 0 inside only an artificial event's, 2 inside any such window when
Kp > the threshold, dropped inside only aftershocks' windows, unused anywhere else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqnetquake.contracts import EVENT_KINDS, NS_PER_DAY
from seqnetquake.errors import InputError
from seqnetquake.geo import EARTH_RADIUS_KM, dobrovolsky_radius_km
from seqnetquake.labels import (
    KIND_CODES,
    LABEL_DROPPED,
    LABEL_UNUSED,
    NO_EVENT,
    SampleLabels,
    events_from_catalog,
    label_samples,
    nearest_events,
)
from windows_fixtures import T0, catalog

EVENT_TIME = pd.Timestamp("2019-12-01T12:00:00", tz="UTC")
DAY = pd.Timedelta(days=1)


def _ns(times) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def _destination(lat_deg: float, lon_deg: float, bearing_deg: float, arc_rad: float):
    """The point ``arc_rad`` along a great circle from (lat, lon) at ``bearing_deg``."""
    lat, lon, b = np.deg2rad(lat_deg), np.deg2rad(lon_deg), np.deg2rad(bearing_deg)
    lat2 = np.arcsin(np.sin(lat) * np.cos(arc_rad) + np.cos(lat) * np.sin(arc_rad) * np.cos(b))
    lon2 = lon + np.arctan2(np.sin(b) * np.sin(arc_rad) * np.cos(lat),
                            np.cos(arc_rad) - np.sin(lat) * np.sin(lat2))
    return np.rad2deg(lat2), (np.rad2deg(lon2) + 180.0) % 360.0 - 180.0


def _label(times, lats, lons, cat, radius, kp=None, lead_days=15.0, kp_threshold=3.0):
    order = np.argsort(_ns(times), kind="stable")
    kp = np.full(len(order), 1.0) if kp is None else np.asarray(kp, dtype=float)
    out = label_samples(
        _ns(times)[order], np.asarray(lats, float)[order], np.asarray(lons, float)[order],
        kp[order], events_from_catalog(cat, radius), lead_days, kp_threshold,
    )
    label, event = np.empty_like(out.label), np.empty_like(out.event)
    label[order], event[order] = out.label, out.event
    return label, event


# --------------------------------------------------------------------------- labels
def test_dobrovolsky_radius_edge():
    radius_km = float(dobrovolsky_radius_km(6.0))
    assert radius_km == pytest.approx(380.19, abs=0.01)
    cat = catalog([("iscgem:1", EVENT_TIME, 10.0, 20.0, 6.0, "mainshock")])
    distances_km = [radius_km - 1.0, radius_km, radius_km + 0.5, radius_km + 1.0]
    bearings = [0.0, 63.0, 90.0, 200.0]
    lats, lons = [], []
    for bearing in bearings:
        for d in distances_km:
            lat, lon = _destination(10.0, 20.0, bearing, d / EARTH_RADIUS_KM)
            lats.append(lat)
            lons.append(lon)
    times = [EVENT_TIME - DAY] * len(lats)
    label, event = _label(times, lats, lons, cat, "dobrovolsky")
    expected = [1, 1, LABEL_UNUSED, LABEL_UNUSED] * len(bearings)
    assert label.tolist() == expected
    assert event.tolist() == [0 if x == 1 else NO_EVENT for x in expected]


def test_fixed_radius_is_great_circle_at_high_latitude_and_across_antimeridian():
    cat = catalog([("iscgem:1", EVENT_TIME, 60.0, 179.0, 5.0, "mainshock")])
    points = [_destination(60.0, 179.0, 90.0, np.deg2rad(a)) for a in (9.99, 10.01)]
    points += [_destination(60.0, 179.0, 270.0, np.deg2rad(a)) for a in (9.99, 10.01)]
    points += [(80.0, -1.0)]  # over the pole side: 20 deg of longitude but > 10 deg of arc
    lats, lons = zip(*points, strict=True)
    assert lons[0] < 0  # east of 179 E wraps to the western hemisphere
    label, _ = _label([EVENT_TIME - DAY] * len(lats), lats, lons, cat, 10.0)
    assert label.tolist() == [1, LABEL_UNUSED, 1, LABEL_UNUSED, LABEL_UNUSED]


def test_window_covering_a_pole_reaches_every_longitude():
    cat = catalog([("iscgem:1", EVENT_TIME, 88.0, 0.0, 5.0, "mainshock")])
    lats, lons = [88.0, 89.0, 85.5, 84.0], [180.0, -90.0, 180.0, 170.0]  # 4, 2.2, 6.5, 8 deg
    label, _ = _label([EVENT_TIME - DAY] * 4, lats, lons, cat, 7.0)
    assert label.tolist() == [1, 1, 1, LABEL_UNUSED]


def test_time_window_edges():
    cat = catalog([("iscgem:1", EVENT_TIME, 0.0, 0.0, 5.0, "mainshock")])
    ns = pd.Timedelta(1, unit="ns")
    times = [EVENT_TIME - 15 * DAY - ns, EVENT_TIME - 15 * DAY, EVENT_TIME - 15 * DAY + ns,
             EVENT_TIME - ns, EVENT_TIME, EVENT_TIME + pd.Timedelta(seconds=1.5)]
    label, _ = _label(times, [0.0] * 6, [0.0] * 6, cat, 3.0)
    assert label.tolist() == [LABEL_UNUSED, 1, 1, 1, LABEL_UNUSED, LABEL_UNUSED]


def test_kp_threshold_is_strict_and_storms_take_precedence():
    cat = catalog([
        ("iscgem:1", EVENT_TIME, 0.0, 0.0, 5.0, "mainshock"),
        ("art-cses-00000", EVENT_TIME, 0.0, 50.0, 5.0, "artificial"),
    ])
    kp = [3.0, 10 / 3, 3.0, 10 / 3, 10 / 3]
    lons = [0.0, 0.0, 50.0, 50.0, 120.0]  # real, real, artificial, artificial, no window
    label, event = _label([EVENT_TIME - DAY] * 5, [0.0] * 5, lons, cat, 3.0, kp=kp)
    assert label.tolist() == [1, 2, 0, 2, LABEL_UNUSED]
    assert event.tolist() == [0, 0, 1, 1, NO_EVENT]


def test_precedence_aftershocks_and_nearest_event():
    cat = catalog([
        ("iscgem:1", EVENT_TIME, 0.0, 0.0, 5.0, "mainshock"),
        ("iscgem:2", EVENT_TIME + DAY, 0.0, 2.0, 5.0, "mainshock"),
        ("iscgem:3", EVENT_TIME + 2 * DAY, 0.0, 2.0, 5.0, "mainshock"),  # tie with 2: later
        ("art-cses-00000", EVENT_TIME, 0.0, 0.5, 5.0, "artificial"),
        ("iscgem:4", EVENT_TIME, 40.0, 40.0, 5.0, "aftershock"),
        ("iscgem:5", EVENT_TIME, 0.0, -1.0, 5.0, "aftershock"),
    ])
    lons = [0.2, 1.8, 0.4, -0.5]
    lats = [0.0, 0.0, 0.0, 0.0]
    label, event = _label([EVENT_TIME - DAY] * 4 + [EVENT_TIME - DAY], lats + [40.5],
                          lons + [40.0], cat, 3.0)
    # nearest real event; real beats artificial; real beats aftershock; aftershock-only drops
    assert label.tolist() == [1, 1, 1, 1, LABEL_DROPPED]
    assert event.tolist() == [0, 1, 0, 0, NO_EVENT]


def test_vectorised_join_matches_brute_force():
    rng = np.random.default_rng(3)
    n, n_events = 4000, 300
    times = T0 + pd.to_timedelta(np.sort(rng.uniform(0, 40, n)), unit="D")
    lats, lons = rng.uniform(-65, 65, n), rng.uniform(-180, 180, n)
    kinds = rng.choice(["mainshock", "artificial", "aftershock"], n_events)
    ev_times = T0 + pd.to_timedelta(rng.uniform(0, 55, n_events), unit="D")
    ev_lats, ev_lons = rng.uniform(-70, 70, n_events), rng.uniform(-180, 180, n_events)
    mags = rng.uniform(5.0, 7.5, n_events)
    cat = catalog([(f"e{i}", ev_times[i], ev_lats[i], ev_lons[i], mags[i], kinds[i])
                   for i in range(n_events)])
    label, event = _label(times, lats, lons, cat, "dobrovolsky")

    # brute force: every sample against every event
    radius = np.deg2rad(np.rad2deg(dobrovolsky_radius_km(mags) / EARTH_RADIUS_KM))
    p1, p2 = np.deg2rad(lats)[:, None], np.deg2rad(ev_lats)[None, :]
    dl = np.deg2rad(lons)[:, None] - np.deg2rad(ev_lons)[None, :]
    hav = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    dist = 2 * np.arcsin(np.sqrt(hav))
    dt = _ns(ev_times)[None, :] - _ns(times)[:, None]
    inside = (dist <= radius) & (dt > 0) & (dt <= 15 * 86_400 * 10**9)
    for i in range(n):
        hit = {k: np.flatnonzero(inside[i] & (kinds == k)) for k in set(kinds)}
        if len(hit["mainshock"]):
            want_label, pool = 1, hit["mainshock"]
        elif len(hit["artificial"]):
            want_label, pool = 0, hit["artificial"]
        else:
            want_label = LABEL_DROPPED if len(hit["aftershock"]) else LABEL_UNUSED
            pool = np.array([], dtype=int)
        assert label[i] == want_label, i
        want_event = pool[np.argmin(dist[i, pool])] if len(pool) else NO_EVENT
        assert event[i] == want_event, i
    assert (label == 1).sum() > 50 and (label == 0).sum() > 50 and (label == -2).sum() > 10

# --------------------------------------------------------------------------- more rules
def test_dobrovolsky_radius_grows_tenfold_per_2_33_magnitudes():
    np.testing.assert_allclose(dobrovolsky_radius_km([5.0, 6.0, 7.0]),
                               [10 ** 2.15, 10 ** 2.58, 10 ** 3.01])
    cat = catalog([("a", EVENT_TIME, 0.0, 0.0, 5.0, "mainshock"),
                   ("b", EVENT_TIME, 0.0, 90.0, 7.0, "mainshock")])
    events = events_from_catalog(cat, "dobrovolsky")
    np.testing.assert_allclose(events.radius_deg * np.pi / 180 * EARTH_RADIUS_KM,
                               [10 ** 2.15, 10 ** 3.01])
    fixed = events_from_catalog(cat, 3)
    assert fixed.radius_deg.tolist() == [3.0, 3.0]


def test_lead_days_bound_the_window():
    cat = catalog([("iscgem:1", EVENT_TIME, 0.0, 0.0, 5.0, "mainshock")])
    ns = pd.Timedelta(1, unit="ns")
    times = [EVENT_TIME - 5 * DAY - ns, EVENT_TIME - 5 * DAY, EVENT_TIME - DAY]
    label, _ = _label(times, [0.0] * 3, [0.0] * 3, cat, 3.0, lead_days=5.0)
    assert label.tolist() == [LABEL_UNUSED, 1, 1]
    label, _ = _label(times, [0.0] * 3, [0.0] * 3, cat, 3.0, lead_days=1.0)
    assert label.tolist() == [LABEL_UNUSED, LABEL_UNUSED, 1]


def test_only_an_artificial_window_gives_zero_and_a_storm_outside_windows_stays_unused():
    cat = catalog([("art-cses-00000", EVENT_TIME, 20.0, 20.0, 6.0, "artificial")])
    lats, lons = [20.0, 21.0, 20.0, -40.0], [20.0, 21.0, 20.0, -40.0]
    kp = [1.0, 3.0, 5.0, 9.0]
    label, event = _label([EVENT_TIME - DAY] * 4, lats, lons, cat, 3.0, kp=kp)
    assert label.tolist() == [0, 0, 2, LABEL_UNUSED]  # Kp 9 far from every window: unused
    assert event.tolist() == [0, 0, 0, NO_EVENT]


def test_threshold_is_a_parameter_and_kp_nan_is_no_storm():
    cat = catalog([("iscgem:1", EVENT_TIME, 0.0, 0.0, 5.0, "mainshock")])
    kp = [4.0, 4.0 + 1 / 3, np.nan]
    label, _ = _label([EVENT_TIME - DAY] * 3, [0.0] * 3, [0.0] * 3, cat, 3.0, kp=kp,
                      kp_threshold=4.0)
    assert label.tolist() == [1, 2, 1]


def test_aftershock_only_window_drops_even_in_a_storm_and_counts_add_up():
    cat = catalog([("iscgem:9", EVENT_TIME, 0.0, 0.0, 5.0, "aftershock"),
                   ("iscgem:1", EVENT_TIME, 30.0, 0.0, 5.0, "mainshock")])
    lats = [0.0, 0.5, 30.0, 30.0, 60.0]
    kp = [1.0, 6.0, 1.0, 6.0, 6.0]
    out = label_samples(_ns([EVENT_TIME - DAY] * 5), np.asarray(lats), np.zeros(5),
                        np.asarray(kp), events_from_catalog(cat, 3.0), 15.0, 3.0)
    assert out.label.tolist() == [LABEL_DROPPED, LABEL_DROPPED, 1, 2, LABEL_UNUSED]
    assert out.event.tolist() == [NO_EVENT, NO_EVENT, 1, 1, NO_EVENT]
    assert out.counts() == {"label_0": 0, "label_1": 1, "label_2": 1, "aftershock_only": 2,
                            "unused": 1}


def test_sample_labels_counts_every_code():
    labels = SampleLabels(label=np.array([0, 0, 1, 2, 2, 2, -1, -2], dtype=np.int8),
                          event=np.zeros(8, dtype=np.int64))
    assert labels.counts() == {"label_0": 2, "label_1": 1, "label_2": 3, "aftershock_only": 1,
                               "unused": 1}


def test_nearest_events_needs_sorted_samples_and_handles_no_events():
    cat = catalog([("iscgem:1", EVENT_TIME, 0.0, 0.0, 5.0, "mainshock")])
    events = events_from_catalog(cat, 3.0)
    t = _ns([EVENT_TIME - DAY, EVENT_TIME - 2 * DAY])
    groups = {"all": np.ones(1, dtype=bool)}
    with pytest.raises(ValueError, match="sorted"):
        nearest_events(t, np.zeros(2), np.zeros(2), events, 15 * NS_PER_DAY, groups)
    found = nearest_events(t[::-1], np.zeros(2), np.zeros(2), events, 15 * NS_PER_DAY, groups)
    assert found["all"].tolist() == [0, 0]
    none = events_from_catalog(cat.iloc[:0], 3.0)
    empty = nearest_events(t[::-1], np.zeros(2), np.zeros(2), none, 15 * NS_PER_DAY,
                           {"all": np.zeros(0, dtype=bool)})
    assert empty["all"].tolist() == [NO_EVENT, NO_EVENT]


def test_events_from_catalog_refuses_bad_tables_with_one_line():
    good = catalog([("iscgem:1", EVENT_TIME, 0.0, 0.0, 5.0, "mainshock")])
    assert set(KIND_CODES) == set(EVENT_KINDS)
    with pytest.raises(InputError, match=r"^cat.parquet: magnitude: missing column$"):
        events_from_catalog(good.drop(columns=["magnitude"]), 3.0, "cat.parquet")
    with pytest.raises(InputError, match=r"kind: unknown kinds \['foreshock'\]"):
        events_from_catalog(good.assign(kind="foreshock"), 3.0, "cat.parquet")
    no_mag = good.assign(magnitude=np.nan)
    with pytest.raises(InputError, match=r"magnitude: needed for the Dobrovolsky radius \(row 0\)"):
        events_from_catalog(no_mag, "dobrovolsky", "cat.parquet")
    assert len(events_from_catalog(no_mag, 3.0)) == 1  # a fixed radius needs no magnitude
    with pytest.raises(InputError, match=r"latitude/longitude: missing epicentre \(row 0\)"):
        events_from_catalog(good.assign(latitude=np.nan), 3.0, "cat.parquet")
