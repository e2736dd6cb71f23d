"""Catalogue stage: dedupe, declustering and artificial events on hand-built catalogues."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqnetquake import catalog
from seqnetquake.config import ArtificialConfig, CatalogConfig, MissionConfig
from seqnetquake.contracts import CATALOG_COLUMNS
from seqnetquake.geo import lon_diff_deg

T0 = pd.Timestamp("2019-01-01", tz="UTC")


def _events(rows):
    df = pd.DataFrame(rows, columns=["day", "latitude", "longitude"])
    df["time"] = T0 + pd.to_timedelta(df["day"], unit="D")
    return df


def test_decluster_known_answer():
    ev = _events(
        [
            (0.0, 0.0, 0.0),  # A mainshock
            (1.0, 0.5, 0.5),  # inside A's box, 1 day later -> aftershock
            (1.5, 1.6, 0.0),  # 1.6 deg north of A, 1.1 of B: outside both boxes -> mainshock
            (2.0, 1.0, -1.0),  # exactly on A's box corner -> aftershock
            (20.0, 0.0, 0.0),  # A's place 20 days later, > 15 days after anything near -> main
            (40.0, 10.0, 179.8),  # mainshock
            (40.5, 10.2, -179.8),  # across the antimeridian, 0.4 deg away -> aftershock
            (56.0, 10.0, 179.8),  # 15.5 days after the previous, nearest earlier 15.5 d -> main
        ]
    )
    after = catalog.decluster(
        ev["time"], ev["latitude"].to_numpy(), ev["longitude"].to_numpy(), 2.0, 15.0
    )
    assert after.tolist() == [False, True, False, True, False, False, True, False]


def test_decluster_time_edge_is_inclusive():
    ev = _events([(0.0, 0.0, 0.0), (15.0, 0.0, 0.0), (30.000001, 0.0, 0.0)])
    after = catalog.decluster(
        ev["time"], ev["latitude"].to_numpy(), ev["longitude"].to_numpy(), 2, 15
    )
    # exactly 15 days after -> aftershock; the third is 15.000001 days after the second,
    # but the second is itself an event, so "centred on an event" still uses it.
    assert after.tolist() == [False, True, False]


def test_decluster_rejects_unsorted():
    ev = _events([(1.0, 0.0, 0.0), (0.0, 0.0, 0.0)])
    with pytest.raises(ValueError):
        catalog.decluster(ev["time"], ev["latitude"].to_numpy(), ev["longitude"].to_numpy(), 2, 15)


def _source_rows(rows):
    df = pd.DataFrame(
        rows, columns=["source", "source_id", "seconds", "latitude", "longitude", "magnitude"]
    )
    df["time"] = (T0 + pd.to_timedelta(df["seconds"], unit="s")).astype("datetime64[ns, UTC]")
    df["depth_km"] = 10.0
    df["magnitude_type"] = "mw"
    df["event_type"] = "earthquake"
    df["updated"] = pd.NaT
    return df.drop(columns="seconds")


def test_dedupe_across_sources_keeps_preferred():
    km_per_deg = 111.19
    rows = _source_rows(
        [
            ("iscgem", "1", 0, 0.0, 0.0, 5.1),
            ("comcat", "a", 10, 50 / km_per_deg, 0.0, 5.3),  # 10 s, 50 km: duplicate of 1
            ("comcat", "b", 1000, 0.0, 0.0, 5.3),  # far in time: kept
            ("kaggle_significant", "k1", 1015, 0.0, 0.0, 5.6),  # 15 s after b: duplicate
            ("kaggle_significant", "k2", 2000, 0.0, 0.0, 5.6),  # alone: kept
            ("kaggle_significant", "k3", 2010, 1.5, 0.0, 5.6),  # 10 s, 167 km from k2: kept
            ("comcat", "c", 3000, 0.0, 0.0, 5.0),
            ("kaggle_significant", "k4", 3020, 0.0, 0.0, 5.6),  # 20 s > 16 s: kept
        ]
    )
    out = catalog.dedupe(rows, CatalogConfig())
    assert sorted(out["source_id"]) == ["1", "b", "c", "k2", "k3", "k4"]


def test_dedupe_same_id_keeps_latest_update():
    rows = _source_rows([("comcat", "x", 0, 0, 0, 5.0), ("comcat", "x", 0, 0, 0, 5.2)])
    rows["updated"] = pd.to_datetime(["2020-01-01", "2021-01-01"], utc=True)
    out = catalog.dedupe(rows, CatalogConfig())
    assert len(out) == 1 and out["magnitude"].iloc[0] == 5.2


def _real(n=40, seed=0):
    rng = np.random.default_rng(seed)
    t = T0 + pd.to_timedelta(np.sort(rng.uniform(0, 300, n)), unit="D")
    return pd.DataFrame(
        {
            "event_id": [f"comcat:{i}" for i in range(n)],
            "time": t.astype("datetime64[ns, UTC]"),
            "latitude": rng.uniform(-50, 50, n),
            "longitude": rng.uniform(-180, 180, n),
            "depth_km": 10.0,
            "magnitude": rng.uniform(5, 7, n),
            "source": "comcat",
            "kind": np.where(rng.random(n) < 0.3, "aftershock", "mainshock"),
        }
    )


MISSION = MissionConfig(start="2019-01-01", end="2019-12-31", lat_coverage_deg=65)


@pytest.mark.parametrize("mode", ["uniform", "location_matched"])
def test_artificial_events_satisfy_constraints(mode):
    real = _real()
    acfg = ArtificialConfig(mode=mode, seed=1)
    art, shortfall = catalog.artificial_events(
        real, MISSION, acfg, np.random.default_rng(1), "art-x-"
    )
    n_main = int((real["kind"] == "mainshock").sum())
    assert shortfall == 0 and len(art) == n_main
    assert (art["kind"] == "artificial").all() and art["event_id"].is_unique
    assert (
        art["time"]
        .between(
            pd.Timestamp("2019-01-01", tz="UTC"),
            pd.Timestamp("2020-01-01", tz="UTC"),
            inclusive="left",
        )
        .all()
    )
    assert art["latitude"].abs().le(65).all()
    # The per-pair constraint: no real event within 10 deg lat AND lon AND 15 days.
    dt_days = np.abs(
        (art["time"].to_numpy()[:, None] - real["time"].to_numpy()[None, :]) / pd.Timedelta("1D")
    )
    dlat = np.abs(art["latitude"].to_numpy()[:, None] - real["latitude"].to_numpy()[None, :])
    dlon = lon_diff_deg(
        art["longitude"].to_numpy()[:, None], real["longitude"].to_numpy()[None, :]
    )
    assert not ((dt_days <= 15) & (dlat <= 10) & (dlon <= 10)).any()
    # Magnitudes come from the mainshocks (they set the Dobrovolsky radius).
    assert set(art["magnitude"]) <= set(real.loc[real["kind"] == "mainshock", "magnitude"])
    if mode == "location_matched":
        mains = real[real["kind"] == "mainshock"]
        assert set(zip(art["latitude"], art["longitude"], strict=True)) == set(
            zip(mains["latitude"], mains["longitude"], strict=True)
        )


def test_artificial_events_are_seeded():
    real = _real()
    a, _ = catalog.artificial_events(
        real, MISSION, ArtificialConfig(), np.random.default_rng(5), "a"
    )
    b, _ = catalog.artificial_events(
        real, MISSION, ArtificialConfig(), np.random.default_rng(5), "a"
    )
    c, _ = catalog.artificial_events(
        real, MISSION, ArtificialConfig(), np.random.default_rng(6), "a"
    )
    pd.testing.assert_frame_equal(a, b)
    assert not a["latitude"].equals(c["latitude"])


def test_build_catalog_filters_after_dedupe(cfg):
    # ISC-GEM (preferred) says 4.9, Kaggle says 5.6 for the same event: below threshold.
    rows = _source_rows(
        [
            ("iscgem", "1", 0, 10.0, 10.0, 4.9),
            ("kaggle_significant", "k", 5, 10.0, 10.0, 5.6),
            ("iscgem", "2", 86400 * 40, 30.0, 30.0, 5.5),
        ]
    )
    rows["time"] = rows["time"] - (T0 - pd.Timestamp("2006-03-01", tz="UTC"))
    merged = catalog.dedupe(rows, cfg.catalog)
    table, counts = catalog.build_catalog(merged, cfg, "demeter")
    real = table[table["kind"] != "artificial"]
    assert real["event_id"].tolist() == ["iscgem:2"]
    assert counts["mainshock"] == 1 and counts["artificial"] == 1
    assert list(table.columns) == list(CATALOG_COLUMNS)
    assert str(table["time"].dtype) == "datetime64[ns, UTC]"


def test_no_mainshocks_gives_an_empty_artificial_table():
    real = _real().assign(kind="aftershock")
    art, shortfall = catalog.artificial_events(
        real, MISSION, ArtificialConfig(), np.random.default_rng(0), "a"
    )
    assert len(art) == 0 and shortfall == 0
    assert list(art.columns) == list(CATALOG_COLUMNS)


def _cluster():
    """An M6.1, then 2 days later the M7.5 mainshock ~40 km away, an M5.5 aftershock near
    both, an M5.0 foreshock a day before everything, and an M5.0 far away."""
    ev = _events([
        (-1.0, 0.4, 0.4),  # E: M5.0 foreshock, ~30 km from B
        (0.0, 0.0, 0.0),  # A: M6.1
        (2.0, 0.3, 0.2),  # B: M7.5, the largest, second of the sequence
        (5.0, 0.1, 0.1),  # C: M5.5
        (6.0, 5.0, 5.0),  # D: M5.0, 780 km away: independent
    ])
    ev["magnitude"] = [5.0, 6.1, 7.5, 5.5, 5.0]
    ev["event_id"] = ["t:E", "t:A", "t:B", "t:C", "t:D"]
    return ev


def test_gardner_knopoff_makes_the_largest_shock_the_mainshock_even_when_second():
    ev = _cluster()
    args = (ev["time"], ev["latitude"].to_numpy(), ev["longitude"].to_numpy(),
            ev["magnitude"].to_numpy())
    parent = catalog.gardner_knopoff_parents(*args)
    assert parent.tolist() == [2, 2, -1, 2, -1]  # E, A, C depend on B; B, D are mainshocks
    # the paper's rule makes the M7.5 an aftershock of the smaller M6.1 (and A of E: chaining)
    paper = catalog.paper_parents(*args[:3], 2.0, 15.0, args[3])
    assert paper.tolist() == [-1, 0, 1, 2, -1]
    # without a foreshock window, the earlier E and A stay out of B's cluster
    no_fore = catalog.gardner_knopoff_parents(*args, foreshock_time_fraction=0.0)
    assert no_fore[2] == -1 and no_fore[3] == 2 and no_fore[1] != 2


def test_gardner_knopoff_windows_follow_the_table():
    km, days = catalog.gardner_knopoff_windows(np.array([5.0, 6.0, 7.0, 8.0]))
    # Gardner & Knopoff (1974) table: M5 40 km / 155 d, M6 54 / 510, M7 70 / 915, M8 94 / 985
    np.testing.assert_allclose(km, [40, 54, 70, 94], rtol=0.05)
    np.testing.assert_allclose(days, [155, 510, 915, 985], rtol=0.1)


def test_catalogue_report_counts_both_methods(cfg):
    ev = _cluster()
    rows = pd.DataFrame({
        "source": "iscgem", "source_id": list("EABCD"),
        "time": ev["time"] - (T0 - pd.Timestamp("2006-03-01", tz="UTC")),
        "latitude": ev["latitude"], "longitude": ev["longitude"],
        "magnitude": ev["magnitude"], "depth_km": 10.0, "event_type": "earthquake",
        "updated": pd.NaT,
    })
    for method, kinds in [("gardner_knopoff", ["aftershock", "aftershock", "mainshock",
                                               "aftershock", "mainshock"]),
                          ("paper", ["mainshock", "aftershock", "aftershock", "aftershock",
                                     "mainshock"])]:
        c = cfg.model_copy(update={"catalog": cfg.catalog.model_copy(update={
            "declustering": cfg.catalog.declustering.model_copy(update={"method": method})})})
        table, counts = catalog.build_catalog(rows, c, "demeter")
        real = table[table["kind"] != "artificial"]
        assert real["kind"].tolist() == kinds, method
        report = counts["declustering"]
        assert report["method"] == method
        assert report["gardner_knopoff"]["dependent"] == 3
        assert report["gardner_knopoff"]["dependent_on_smaller_m7"] == 0
        assert report["paper"]["dependent_m7"] == 1
        assert report["paper"]["dependent_on_smaller_m7"] == 1
        first = report["paper"]["largest_removed"][0]
        assert first["event_id"] == "iscgem:B" and first["removed_by"] == "iscgem:A"
        assert [r["magnitude"] for r in report["gardner_knopoff"]["largest_removed"]] == [
            6.1, 5.5, 5.0]
