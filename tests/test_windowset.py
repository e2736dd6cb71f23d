"""The one chronological cut (windowset.split_by_events): whole events, a gap, 80/20 kept."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from model_fixtures import window_set
from seqnetquake.config import ConfigError
from seqnetquake.contracts import NS_PER_DAY
from seqnetquake.windowset import WindowSet, fit_validation_split, split_by_events

DAY = np.timedelta64(1, "D")


def _ws(days: list[float], events: list[str]) -> WindowSet:
    """Windows starting ``days`` after 2019-10-01, labelled by ``events``."""
    ws = window_set(len(days), 4, seed=0)
    t0 = np.datetime64("2019-10-01", "ns") + (np.asarray(days) * NS_PER_DAY).astype(
        "timedelta64[ns]")
    return dataclasses.replace(ws, t0=t0, event_id=np.asarray(events, dtype=str),
                               y=np.ones(len(days), dtype=np.int64))


def _check(split, gap_days: float, window_s: float = 0.0) -> None:
    earlier, later = split.earlier, split.later
    assert not (set(earlier.event_id) & set(later.event_id)) - {""}
    end = earlier.t0.max() + np.timedelta64(int(window_s * 1e9), "ns")
    assert (later.t0.min() - end) >= np.timedelta64(int(gap_days * NS_PER_DAY), "ns")
    assert split.summary()["events_on_both_sides"] == 0


def test_event_straddling_the_cut_stays_on_one_side():
    # 10 events a day apart, one window a day each; event "long" spans days 5-9, where a
    # plain 80/20 cut by start time (after day 7) would split it.
    days = list(range(10)) + [5.5, 6.5, 7.5, 8.5, 9.5]
    events = [f"e{d}" for d in range(10)] + ["long"] * 5
    split = split_by_events(_ws(days, events), 0.2, gap_days=0.0)
    _check(split, 0.0)
    long_sides = [("long" in s.event_id) for s in (split.earlier, split.later)]
    assert long_sides.count(True) == 1
    assert len(split.earlier) + len(split.later) + len(split.dropped_gap) + len(
        split.dropped_straddling) == 15


def test_the_gap_separates_the_sides_and_dropped_windows_are_counted():
    days = list(np.arange(0, 60, 0.5))
    events = [f"e{int(d // 3)}" for d in days]  # an event every 3 days, 6 windows each
    ws = _ws(days, events)
    split = split_by_events(ws, 0.2, gap_days=15.0, window_s=30.0)
    _check(split, 15.0, 30.0)
    summary = split.summary()
    assert summary["dropped_in_gap"]["total"] == len(split.dropped_gap) >= 29
    assert summary["dropped_in_gap"]["1"] == len(split.dropped_gap)
    assert abs(summary["achieved_fraction"] - 0.2) <= 0.05
    assert summary["cut"] == str(split.later.t0.min())
    # without a gap the two sides touch: the gap is what the rule adds
    touching = split_by_events(ws, 0.2, gap_days=0.0)
    assert (touching.later.t0.min() - touching.earlier.t0.max()) < np.timedelta64(1, "D")


def test_windows_without_event_are_their_own_event_and_split_is_deterministic():
    days = list(range(40))
    ws = _ws(days, [""] * 40)
    a = split_by_events(ws, 0.25, gap_days=5.0)
    b = split_by_events(ws.take(np.arange(40)[::-1]), 0.25, gap_days=5.0)
    assert a.cut == b.cut and len(a.later) == 9 and len(a.earlier) == 27
    assert len(a.dropped_gap) == 4  # days 27-30: within 5 days of the cut (day 31)


def test_infeasible_split_says_why(cfg):
    ws = _ws([0, 1, 2, 3], ["a", "a", "b", "b"])
    split = split_by_events(ws, 0.2, gap_days=15.0)
    assert not split.feasible and len(split.earlier) == 4
    assert "15-day gap" in split.infeasible_reason()
    with pytest.raises(ValueError, match="15-day gap"):
        ws.chronological_split(0.2, gap_days=15.0)
    with pytest.raises(ConfigError, match="tuning.validation_fraction/validation_gap_days"):
        fit_validation_split(ws, cfg.model_copy(update={"tuning": cfg.tuning.model_copy(
            update={"validation_gap_days": 15.0})}))


def test_fit_validation_split_uses_the_validation_gap(cfg):
    days = list(np.arange(0, 60, 0.5))
    ws = _ws(days, [f"e{int(d // 3)}" for d in days])
    for gap in (2.0, 10.0):
        c = cfg.model_copy(update={"tuning": cfg.tuning.model_copy(
            update={"validation_gap_days": gap})})
        fit, val = fit_validation_split(ws, c)
        assert (val.t0.min() - fit.t0.max()) >= gap * DAY
        assert not set(fit.event_id) & set(val.event_id)
