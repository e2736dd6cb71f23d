"""Windowing on hand-built tracks whose labels are known (DESIGN §3; the labels: test_labels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqnetquake.config import Config, DatasetConfig
from seqnetquake.errors import ValidationFailed
from seqnetquake.labels import events_from_catalog
from seqnetquake.validate import validate_windows
from seqnetquake.windows import BuiltWindows, build_windows, window_starts
from seqnetquake.windowset import WindowSet
from windows_fixtures import CADENCE_S, catalog, pass_, track

EVENT_TIME = pd.Timestamp("2019-12-01T12:00:00", tz="UTC")
DAY = pd.Timedelta(days=1)


def _ns(times) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8


# --------------------------------------------------------------------------- windows
def _dataset(T: int, radius: float | str = 3.0, half_orbit: str = "night") -> DatasetConfig:
    return DatasetConfig(satellite="cses", half_orbit=half_orbit, T=T, radius=radius)


def _build(cfg: Config, tracks: pd.DataFrame, cat: pd.DataFrame, T: int, **kw) -> BuiltWindows:
    events = events_from_catalog(cat, kw.get("radius", 3.0))
    raw = cfg.windows.model_copy(update={"features": ["ne_cm3", "te_k"]})  # the fixtures' columns
    return build_windows(tracks, events, _dataset(T, **kw), raw, CADENCE_S)


def _all(built: BuiltWindows) -> WindowSet:
    both = [built.train, built.test]
    return WindowSet(**{name: np.concatenate([getattr(w, name) for w in both])
                        for name in WindowSet.__dataclass_fields__})


def test_window_starts_cut_runs_at_label_event_half_orbit_and_segment():
    label = np.array([1] * 7 + [0] * 3 + [-1] * 2 + [1] * 3, dtype=np.int8)
    event = np.array([5] * 4 + [6] * 3 + [7] * 3 + [-1] * 2 + [5] * 3)
    hoid = np.array([11] * 12 + [21] * 3)
    segment = np.zeros(15, dtype=np.int64)
    assert window_starts(label, event, hoid, segment, 3).tolist() == [0, 4, 7, 12]
    segment[1] = 1  # a segment change inside the first run leaves 2 + 1 samples: no window
    assert window_starts(label, event, hoid, segment, 3).tolist() == [4, 7, 12]


def test_no_window_across_two_half_orbits(cfg):
    cat = catalog([("iscgem:1", EVENT_TIME, 0.0, 0.0, 5.0, "mainshock")])
    start = EVENT_TIME - 2 * DAY
    # 7 samples end one half-orbit, 5 more start the next right after: one run of 12 labels
    first = pass_(start, 7, 0.0, 0.0, 11)
    second = pass_(start + pd.Timedelta(seconds=7 * CADENCE_S), 5, 0.07, 0.0, 21)
    ws = _all(_build(cfg, track(first, second), cat, T=4))
    assert ws.half_orbit_id.tolist() == [11, 21]  # 7 // 4 + 5 // 4, never one across
    assert ws.t0.astype("datetime64[ns]").astype(np.int64).tolist() == _ns(
        [start, start + pd.Timedelta(seconds=7 * CADENCE_S)]).tolist()
    assert ws.X.shape == (2, 4, 2) and ws.X.dtype == np.float32
    assert ws.X[0, :, 0].tolist() == [1e5, 1e5 + 1, 1e5 + 2, 1e5 + 3]
    assert ws.event_id.tolist() == ["iscgem:1", "iscgem:1"]
    assert ws.lat.tolist() == [0.0, 0.07]


def test_gap_windows_dropped_and_bad_samples_break_runs(cfg):
    cat = catalog([("iscgem:1", EVENT_TIME, 0.0, 0.0, 5.0, "mainshock")])
    p = pass_(EVENT_TIME - 2 * DAY, 12, 0.0, 0.0, 11)
    p.loc[2:, "time"] += pd.Timedelta(seconds=10)  # a gap the segment column missed
    p.loc[9, "quality"] = 4
    p.loc[10, "te_k"] = np.nan
    built = _build(cfg, p, cat, T=3)
    ws = _all(built)
    # windows [0,1,2] (spans the gap: dropped), [3,4,5], [6,7,8]; 9, 10 unusable; 11 alone
    assert ws.t0.astype(np.int64).tolist() == _ns(p["time"].iloc[[3, 6]]).tolist()
    assert built.stats["windows_dropped_gap"] == 1
    assert built.stats["samples_unusable"] == 2


def test_gap_tolerance_keeps_jitter(cfg):
    cat = catalog([("iscgem:1", EVENT_TIME, 0.0, 0.0, 5.0, "mainshock")])
    p = pass_(EVENT_TIME - 2 * DAY, 6, 0.0, 0.0, 11)
    tolerance = pd.Timedelta(seconds=cfg.windows.gap_tolerance_s)
    p.loc[1:, "time"] += tolerance  # window [0, 1, 2] spans exactly 2 x 1.5 s + tolerance
    p.loc[4:, "time"] += tolerance + pd.Timedelta(milliseconds=1)  # [3, 4, 5]: 1 ms beyond
    ws = _all(_build(cfg, p, cat, T=3))
    assert ws.t0.astype(np.int64).tolist() == _ns(p["time"].iloc[[0]]).tolist()


def test_other_half_orbit_ignored_and_labels_of_windows(cfg):
    cat = catalog([
        ("iscgem:1", EVENT_TIME, 0.0, 0.0, 6.0, "mainshock"),
        ("art-cses-00000", EVENT_TIME, 0.0, 90.0, 5.0, "artificial"),
        ("iscgem:2", EVENT_TIME, 0.0, -90.0, 5.0, "aftershock"),
    ])
    start = EVENT_TIME - 3 * DAY
    tracks = track(
        pass_(start, 6, 0.0, 0.0, 11),  # real
        pass_(start + pd.Timedelta(hours=1), 6, 0.0, 90.0, 21),  # artificial
        pass_(start + pd.Timedelta(hours=2), 6, 0.0, 90.0, 31, kp=4.0),  # storm
        pass_(start + pd.Timedelta(hours=3), 6, 0.0, -90.0, 41),  # aftershock only: dropped
        pass_(start + pd.Timedelta(hours=4), 6, 0.0, 0.0, 50, half_orbit="day"),
    )
    built = _build(cfg, tracks, cat, T=3, radius="dobrovolsky")
    ws = _all(built)
    assert ws.y.tolist() == [1, 1, 0, 0, 2, 2]
    assert ws.event_id.tolist() == ["iscgem:1"] * 2 + ["art-cses-00000"] * 4
    assert built.stats["samples_in_half_orbit"] == 24
    assert built.stats["samples_aftershock_only"] == 6


def _events_every_6_days(cfg: Config, unsorted: bool = False) -> BuiltWindows:
    """10 events at one epicentre 6 days apart, a pass over it every 12 h: each sample belongs
    to the next event (tied distance: the nearer in time wins), 2 windows of T=3 a pass."""
    cat = catalog([(f"iscgem:{k}", EVENT_TIME + k * 6 * DAY, 0.0, 0.0, 5.0, "mainshock")
                   for k in range(10)])
    passes = [pass_(EVENT_TIME - 14 * DAY + i * pd.Timedelta(hours=12), 6, 0.0, 0.0, 10 * i + 1)
              for i in range(136)]
    tracks = pd.concat(passes[::-1], ignore_index=True) if unsorted else track(*passes)
    return _build(cfg, tracks, cat, T=3)


def test_split_keeps_events_whole_with_the_gap_and_counts_the_dropped(cfg):
    built = _events_every_6_days(cfg, unsorted=True)  # sorted by the stage, not trusted
    train, test, split = built.train, built.test, built.split
    assert not set(train.event_id) & set(test.event_id)
    last_end = train.t0.max() + np.timedelta64(int(2 * CADENCE_S * 1e9), "ns")
    assert test.t0.min() - last_end >= np.timedelta64(15, "D")
    assert np.all(np.diff(train.t0.astype(np.int64)) > 0)
    summary = split.summary()
    dropped = summary["dropped_in_gap"]["total"] + summary["dropped_straddling"]["total"]
    assert dropped == 272 - len(train) - len(test) > 0
    assert summary["dropped_in_gap"]["1"] == summary["dropped_in_gap"]["total"]
    assert abs(summary["achieved_fraction"] - cfg.windows.test_fraction) < 0.05
    assert summary["events_on_both_sides"] == 0
    # a larger gap drops more
    wide = cfg.model_copy(update={"windows": cfg.windows.model_copy(
        update={"split_gap_days": 25.0})})
    assert len(_all(_events_every_6_days(wide))) < len(_all(built))


def test_windows_suite_passes_and_catches_planted_violations(cfg):
    cfg = cfg.model_copy(update={"datasets": {"xx": _dataset(3)}})
    built = _events_every_6_days(cfg)
    validate_windows(built.train, built.test, cfg, "xx")

    X = built.train.X.copy()
    X[0, 1, 1] = np.nan
    y = built.train.y.copy()
    y[1] = 5
    t0 = built.test.t0.copy()
    t0[0] = built.train.t0[0]  # a test window starting with the first training window
    bad = BuiltWindows(
        train=WindowSet(**{**built.train.__dict__, "X": X, "y": y}),
        test=WindowSet(**{**built.test.__dict__, "t0": t0}),
        stats=built.stats,
    )
    with pytest.raises(ValidationFailed) as failure:
        validate_windows(bad.train, bad.test, cfg, "xx")
    message = str(failure.value)
    assert "y: expect_column_values_to_be_in_set" in message
    assert "n_nan: expect_column_values_to_be_in_set" in message
    assert "split_code: expect_column_values_to_be_increasing" in message
    assert "gap_days: expect_column_values_to_be_between" in message

    # an event with windows on both sides of the cut
    ids = built.test.event_id.copy()
    ids[0] = built.train.event_id[-1]
    straddling = BuiltWindows(train=built.train,
                              test=WindowSet(**{**built.test.__dict__, "event_id": ids}),
                              stats=built.stats)
    with pytest.raises(ValidationFailed) as failure:
        validate_windows(straddling.train, straddling.test, cfg, "xx")
    assert "event_splits: expect_column_values_to_be_in_set" in str(failure.value)
