"""The background stage: causal quiet-time reference, fallback cells, GX suite, channels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from seqnetquake import background as bg
from seqnetquake import channels
from seqnetquake.config import BackgroundConfig, WindowsConfig
from seqnetquake.contracts import BACKGROUND_COLUMNS
from seqnetquake.errors import InputError, ValidationFailed
from seqnetquake.geo import to_ns

START = pd.Timestamp("2019-10-01", tz="UTC")


def synthetic_tracks(days: int = 14, seed: int = 0) -> pd.DataFrame:
    """Passes every 3 hours over a few cells (night and day), Kp varying, a few bad samples."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(days * 8):
        t0 = START + pd.Timedelta(hours=3 * k) + pd.Timedelta(minutes=int(rng.integers(0, 60)))
        n = 40
        night = k % 2
        parts.append(pd.DataFrame({
            "time": t0 + pd.to_timedelta(np.arange(n) * 1.5, unit="s"),
            "lat": 10.0 + 0.05 * np.arange(n),
            "lon": 20.0 + (k % 4) * 6.0,  # four 5-deg cells, two per half-orbit kind
            "half_orbit": "night" if night else "day",
            "half_orbit_id": np.int64(1000 + k),
            "ne_cm3": 10 ** rng.normal(5.0 - 0.3 * night, 0.05, n),
            "te_k": 10 ** rng.normal(3.2, 0.03, n),
            "kp": float(rng.choice([0.333, 1.0, 2.0, 4.0])),
            "quality": np.where(rng.random(n) < 0.02, 1, 0).astype(np.int16),
        }))
    return pd.concat(parts, ignore_index=True)


def reference_of(tracks: pd.DataFrame, cfg: BackgroundConfig) -> pd.DataFrame:
    return bg.background_frame(tracks, cfg)


def test_reference_never_looks_ahead():
    cfg = BackgroundConfig(min_count=10)
    tracks = synthetic_tracks()
    before = reference_of(tracks, cfg)
    i = len(tracks) * 2 // 3
    future = tracks.index >= i
    changed = tracks.copy()
    changed.loc[future, "ne_cm3"] *= 10.0  # the sample's own value and its future
    changed.loc[future, "te_k"] *= 0.5
    changed.loc[future, "kp"] = 0.0
    changed.loc[future, "quality"] = 0
    after = reference_of(changed, cfg)
    cols = ["ne_ref", "ne_mad", "te_ref", "te_mad", "ref_count", "ref_level"]
    pd.testing.assert_frame_equal(before.loc[: i, cols], after.loc[: i, cols])
    assert before.loc[: i, "ref_level"].ge(0).any()  # something was compared
    # and the future did change references further on (the test can fail)
    assert not np.allclose(before["ne_ref"].iloc[-50:], after["ne_ref"].iloc[-50:])


def test_reference_is_median_and_mad_of_previous_quiet_days():
    cfg = BackgroundConfig(min_count=10, days=3)
    tracks = synthetic_tracks()
    ref = reference_of(tracks, cfg)
    day = tracks["time"].dt.floor("D")
    cell = bg.cell_keys(tracks["lat"].to_numpy(), tracks["lon"].to_numpy(),
                        (tracks["half_orbit"] == "night").to_numpy(), 2.5, 5.0)
    quiet = (tracks["kp"] <= cfg.kp_max) & (tracks["quality"] == 0)
    for i in (len(tracks) // 2, len(tracks) - 1):
        if ref.loc[i, "ref_level"] != 0:
            continue
        sel = (quiet & (cell == cell[i]) & (day < day[i])
               & (day >= day[i] - pd.Timedelta(days=cfg.days)))
        x = np.log10(tracks.loc[sel, "ne_cm3"].to_numpy())
        assert ref.loc[i, "ref_count"] == len(x)
        assert ref.loc[i, "ne_ref"] == pytest.approx(np.median(x), abs=1e-12)
        assert ref.loc[i, "ne_mad"] == pytest.approx(np.median(np.abs(x - np.median(x))),
                                                     abs=1e-12)
    assert (ref["ref_level"] == 0).sum() > 0


def test_sparse_cells_fall_back_and_first_day_has_none():
    # one pass pair (~80 samples) a day per finest cell and kind; x2 cells still hold one,
    # x40 cells hold both: the second day needs the coarsest level, later days the finest
    cfg = BackgroundConfig(min_count=120, kp_max=9.0, fallback=[2.0, 40.0])
    ref = reference_of(synthetic_tracks(), cfg)
    first_day = synthetic_tracks()["time"] < START + pd.Timedelta(days=1)
    assert (ref.loc[first_day, "ref_level"] == -1).all()
    assert ref.loc[first_day, "ne_ref"].isna().all()
    assert set(ref["ref_level"].unique()) >= {-1, 0, 2}  # the coarsest level was needed
    used = ref["ref_level"] >= 0
    assert (ref.loc[used, "ref_count"] >= cfg.min_count).all()
    assert ref.loc[used, ["ne_ref", "te_ref"]].notna().all().all()


def test_thinning_caps_the_count():
    cfg = BackgroundConfig(min_count=5, max_samples=30)
    ref = reference_of(synthetic_tracks(), cfg)
    assert ref["ref_count"].max() == 30


def test_stage_validates_and_writes(tmp_path, cfg):
    tracks = synthetic_tracks()
    path = tmp_path / "tracks.parquet"
    tracks.assign(segment=0).to_parquet(path, index=False)
    out, metrics = tmp_path / "background.parquet", tmp_path / "background.json"
    small = cfg.model_copy(update={"background": BackgroundConfig(min_count=10)})
    bg.run_stage(small, "cses", path, out, metrics)
    written = pd.read_parquet(out)
    assert list(written.columns) == list(BACKGROUND_COLUMNS)
    assert len(written) == len(tracks)
    # impossible coverage: the suite fails and nothing is written
    strict = cfg.model_copy(update={"background": BackgroundConfig(min_count=10,
                                                                   min_coverage=1.0)})
    out2 = tmp_path / "b2.parquet"
    with pytest.raises(ValidationFailed, match="covered"):
        bg.run_stage(strict, "cses", path, out2, tmp_path / "b2.json")
    assert not out2.exists()


def test_stage_names_missing_column(tmp_path, cfg):
    path = tmp_path / "tracks.parquet"
    synthetic_tracks().drop(columns=["kp"]).to_parquet(path, index=False)
    with pytest.raises(InputError, match="kp"):
        bg.run_stage(cfg, "cses", path, tmp_path / "o.parquet", tmp_path / "o.json")


def _with_background(tmp_path) -> tuple[BackgroundConfig, pd.DataFrame, pd.DataFrame, object]:
    """(config, synthetic tracks, their reference, the reference's parquet)."""
    cfg = BackgroundConfig(min_count=10)
    tracks = synthetic_tracks()
    ref = reference_of(tracks, cfg)
    path = tmp_path / "bg.parquet"
    ref.to_parquet(path, index=False)
    return cfg, tracks, ref, path


def test_channels_from_background(tmp_path):
    cfg, tracks, ref, path = _with_background(tmp_path)
    out = channels.add_channels(tracks, ["ne_resid", "te_z", "ne_cm3"], path, cfg)
    i = int(np.flatnonzero(ref["ref_level"].to_numpy() >= 0)[0])
    resid = np.log10(tracks.loc[i, "ne_cm3"]) - ref.loc[i, "ne_ref"]
    assert out.loc[i, "ne_resid"] == pytest.approx(resid)
    te_sigma = channels.MAD_TO_SIGMA * max(ref.loc[i, "te_mad"], cfg.mad_floor)
    assert out.loc[i, "te_z"] == pytest.approx(
        (np.log10(tracks.loc[i, "te_k"]) - ref.loc[i, "te_ref"]) / te_sigma)
    assert out["ne_resid"].isna().sum() == ref["ne_ref"].isna().sum()
    # a track sample without a reference row: one line naming the file and the field
    ref.iloc[5:].to_parquet(path, index=False)
    with pytest.raises(InputError, match=r"bg.parquet: time: .*\(row 0\)"):
        channels.add_channels(tracks, ["ne_resid"], path, cfg)
    with pytest.raises(InputError, match="--background"):
        channels.add_channels(tracks, ["ne_z"], None, cfg)
    assert channels.add_channels(tracks, ["ne_cm3", "te_k"], None, cfg) is tracks


def _pass(hid: int, t0: pd.Timestamp, n: int = 600, factor: float = 0.0) -> pd.DataFrame:
    """One half-orbit at 1.5 s cadence (~10.5 km per sample): log residual ``factor`` plus a
    slow along-track wave, as day-to-day variability would give."""
    x = np.arange(n)
    return pd.DataFrame({"time": t0 + pd.to_timedelta(x * 1.5, unit="s"),
                         "half_orbit_id": np.int64(hid),
                         "r": factor + 0.1 * np.sin(2 * np.pi * x / n)})


def test_along_track_trend_keeps_a_local_bump_and_removes_the_pass_level():
    one = _pass(1, START, factor=0.3)
    bump = slice(290, 310)  # ~200 km, far narrower than +- 1000 km
    one.loc[one.index[bump], "r"] += 0.2
    two = _pass(2, START + pd.Timedelta(minutes=47), factor=-0.4)
    both = pd.concat([one, two], ignore_index=True)
    trend = channels.along_track_trend(both["r"].to_numpy(), to_ns(both["time"]),
                                       both["half_orbit_id"].to_numpy(), 1000.0)
    detr = both["r"].to_numpy() - trend
    assert detr[bump].mean() == pytest.approx(0.2, abs=0.03)  # the bump survives
    outside = np.r_[100:250, 350:500]
    assert np.abs(detr[outside]).max() < 0.03  # the pass's level and slow wave do not
    assert np.abs(detr[600 + 100:600 + 500]).max() < 0.03  # nor the other pass's level


def test_detrended_channel_reads_only_its_own_pass(tmp_path):
    """Changing a later pass (or the pass before) leaves a pass's ne_detr as it was."""
    cfg, tracks, ref, path = _with_background(tmp_path)
    before = channels.add_channels(tracks, ["ne_detr", "te_detr", "ne_resid"], path, cfg)
    hid = tracks["half_orbit_id"]
    target = int(hid.iloc[np.flatnonzero(ref["ref_level"].to_numpy() >= 0)[0]])
    others = ((hid == target + 1) | (hid == target - 1)).to_numpy()
    changed = tracks.copy()
    changed.loc[others, "ne_cm3"] *= 3.0
    after = channels.add_channels(changed, ["ne_detr", "te_detr", "ne_resid"], path, cfg)
    mine = (hid == target).to_numpy()
    np.testing.assert_array_equal(after.loc[mine, "ne_detr"], before.loc[mine, "ne_detr"])
    assert not np.allclose(after.loc[others, "ne_resid"], before.loc[others, "ne_resid"])
    # within a pass the detrended residual is the residual less the pass's median
    r = before.loc[mine, "ne_resid"].to_numpy()
    np.testing.assert_allclose(before.loc[mine, "ne_detr"], r - np.nanmedian(r), atol=1e-12)


def test_windows_config_rejects_unknown_channel():
    with pytest.raises(ValidationError, match="ne_ratio"):
        WindowsConfig(features=["ne_ratio"])
    assert WindowsConfig(features=["ne_z", "te_z"]).features == ["ne_z", "te_z"]


def test_slice_median_mad_matches_numpy_across_blocks(monkeypatch):
    monkeypatch.setattr(bg, "BLOCK_ELEMENTS", 100)  # many small blocks
    rng = np.random.default_rng(0)
    values = rng.normal(size=5000)
    lo, n = rng.integers(0, 4000, 300), rng.integers(0, 60, 300)
    med, mad = bg.slice_median_mad(values, lo, n, max_samples=1000)
    for i in range(300):
        x = values[lo[i]: lo[i] + n[i]]
        if n[i] == 0:
            assert np.isnan(med[i]) and np.isnan(mad[i])
            continue
        assert med[i] == pytest.approx(np.median(x))
        assert mad[i] == pytest.approx(np.median(np.abs(x - np.median(x))))
