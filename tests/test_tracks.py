"""The tracks stage: resampling never bridges a gap, day/night, bad-record rules, the stage."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rawfiles import T0, half_orbit, lon_for_local_time, tree_hash, write_lap
from seqnetquake import tracks, validate
from seqnetquake.cli import app
from seqnetquake.contracts import TRACK_COLUMNS
from seqnetquake.errors import InputError
from seqnetquake.sources import cses, demeter
from seqnetquake.tracks import Quality

S = 1_000_000_000  # ns


def _kp(start="2019-11-17", periods=24, kp=2.0) -> pd.DataFrame:
    start = pd.date_range(start, periods=periods, freq="3h", tz="UTC")
    return pd.DataFrame({"start": start, "end": start + pd.Timedelta(hours=3), "kp": kp})


def _build(halves, cfg, cadence_s=3.0, kp=None):
    return tracks.build_tracks(halves, [cadence_s] * len(halves), _kp() if kp is None else kp,
                               cfg.tracks)


# --------------------------------------------------------------------------- resampling
def test_resample_never_bridges_a_gap():
    t = np.array([0, 3, 6, 9, 20, 23, 26], dtype=np.int64) * S  # 11 s step: a gap
    file = np.zeros(len(t), dtype=np.int64)
    start = tracks.segment_starts(t, file, np.full(len(t), int(4.5 * S)))
    assert start.tolist() == [True, False, False, False, True, False, False]
    rs = tracks.resample(t, start, int(1.5 * S))
    out_s = rs.time_ns / S
    assert out_s.tolist() == [0, 1.5, 3, 4.5, 6, 7.5, 9, 20, 21.5, 23, 24.5, 26]
    assert not ((out_s > 9) & (out_s < 20)).any()
    assert rs.segment.tolist() == [0] * 7 + [1] * 5
    values = t / S * 2.0  # a linear signal is reproduced exactly
    np.testing.assert_allclose(rs.interp(values), out_s * 2.0)


def test_resample_segment_end_off_grid_and_single_record():
    t = np.array([0, 1, 2, 3, 10], dtype=np.int64) * S  # DEMETER-like 1 s, then a lone record
    start = tracks.segment_starts(t, np.zeros(5, np.int64), np.full(5, int(1.5 * S)))
    rs = tracks.resample(t, start, int(1.5 * S))
    assert (rs.time_ns / S).tolist() == [0, 1.5, 3, 10]  # grid stops at or before 3 s
    np.testing.assert_allclose(rs.interp(np.array([0.0, 10, 20, 30, 99])), [0, 15, 30, 99])


def test_longitude_interpolates_across_the_dateline():
    t = np.array([0, 3], dtype=np.int64) * S
    rs = tracks.resample(t, np.array([True, False]), int(1.5 * S))
    np.testing.assert_allclose(rs.interp_lon(np.array([179.0, -179.0])), [179.0, -180.0, -179.0])


def test_running_median_stays_inside_each_file():
    ne = np.array([1.0, 1, 1, 1, 1, 50, 50, 50, 50, 50])
    med = tracks.running_median(ne, np.repeat([0, 1], 5))
    assert med.tolist() == [1.0] * 5 + [50.0] * 5


# --------------------------------------------------------------------------- day / night
def test_day_night_from_the_half_digit_agreeing_with_local_time(cfg):
    night = half_orbit(half=1, orbit=100)
    day = half_orbit(half=0, orbit=100, start=T0 + np.timedelta64(50, "m"))
    df, counts = _build([night, day], cfg)
    assert set(df["half_orbit"]) == {"day", "night"}
    by_id = df.groupby("half_orbit_id")["half_orbit"].first().to_dict()
    assert by_id == {1000: "day", 1001: "night"}
    lt = df.groupby("half_orbit")["local_time"].median()
    assert lt["night"] == pytest.approx(2.0, abs=0.3)
    assert lt["day"] == pytest.approx(14.0, abs=0.3)
    assert counts["flagged"]["half_mismatch_files"] == 0
    assert (df["quality"] == 0).all()


def test_half_digit_contradicting_local_time_is_flagged(cfg):
    wrong = half_orbit(half=1, lon0=lon_for_local_time(T0, 14.0))  # says night, flies at 14 LT
    df, counts = _build([wrong], cfg)
    assert (df["half_orbit"] == "night").all()  # the file's label is kept ...
    assert (df["quality"] & int(Quality.HALF_MISMATCH)).all()  # ... but nothing of it is windowed
    assert counts["flagged"]["half_mismatch_files"] == 1


# --------------------------------------------------------------------------- bad records
def test_bad_records_are_dropped_before_interpolation_and_counted(cfg):
    ho = half_orbit(n=100)
    ho.ne_cm3[10] = np.nan  # fill
    ho.te_k[20] = -9999.0  # fill sentinel
    ho.te_k[30] = -50.0  # negative Te
    ho.ne_cm3[40] = 2e7  # above the sensor range
    ho.lat[50] = np.nan  # NaN coordinate
    ho.ne_cm3[60] = 5e5  # a x5 jump: below spike_factor 10, kept unflagged
    ho.ne_cm3[70] = 3e6  # a x30 spike: flagged, kept
    ho.time[80] = ho.time[79]  # repeated time stamp
    df, counts = _build([ho], cfg)
    d = counts["dropped"]
    assert (d["fill"], d["fill_ne"], d["fill_te"]) == (2, 1, 1)
    assert (d["te_range"], d["te_negative"], d["ne_range"], d["coord"], d["time"]) == (
        1, 1, 1, 1, 1)
    assert counts["records_dropped"] == 6
    assert counts["records_kept"] == 94
    assert counts["flagged"]["spike"] == 1
    good = df[df["quality"] == 0]
    assert good["ne_cm3"].max() <= 5e5
    assert df["te_k"].min() >= 500
    assert df[["lat", "ne_cm3", "te_k"]].notna().all().all()
    spike = df[(df["quality"] & int(Quality.SPIKE)) > 0]
    assert len(spike) >= 1 and spike["ne_cm3"].max() == pytest.approx(3e6)
    # each dropped CSES record leaves a 6 s step > 4.5 s: a new segment, not interpolated over
    assert counts["segments"] == 7
    assert df["time"].is_monotonic_increasing


def test_time_going_backwards_drops_the_late_records(cfg):
    ho = half_orbit(n=20)
    ho.time[10] = ho.time[5]  # a jump back
    ho.time[15] = ho.time[15] + np.timedelta64(5, "h")  # a stray stamp hours away
    _, counts = _build([ho], cfg)
    assert counts["dropped"]["time"] == 2
    assert counts["dropped"]["time_outlier"] == 1


def test_track_has_the_contracted_columns_and_types(cfg):
    df, _ = _build([half_orbit(half=1), half_orbit(half=0, start=T0 + np.timedelta64(1, "h"))],
                   cfg)
    assert list(df.columns) == list(TRACK_COLUMNS)
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"
    assert df["quality"].dtype == np.int16
    for col in ("orbit", "half_orbit_id", "segment"):
        assert df[col].dtype == np.int64
    for col in ("lat", "lon", "alt", "mlat", "local_time", "ne_cm3", "te_k", "kp"):
        assert df[col].dtype == np.float64
    assert np.all(np.diff(df["time"].to_numpy(dtype="datetime64[ns]").view(np.int64)) > 0)
    steps = np.diff(df["time"].to_numpy(dtype="datetime64[ns]").view(np.int64))
    assert set(steps[df["segment"].to_numpy()[1:] == df["segment"].to_numpy()[:-1]]) == {
        int(1.5 * S)}


def test_missing_kp_interval_names_the_kp_file_and_field(cfg):
    kp = _kp(start="2019-11-18T09:00")
    with pytest.raises(InputError) as err:
        tracks.build_tracks([half_orbit()], [3.0], kp, cfg.tracks, kp_path="data/kp.parquet")
    assert str(err.value).startswith("data/kp.parquet: kp: no Kp interval covers 2019-11-18T07")


def test_kp_is_the_interval_holding_each_sample(cfg):
    kp = _kp(periods=16)
    kp.loc[kp["start"] == pd.Timestamp("2019-11-18T06:00", tz="UTC"), "kp"] = 3.333
    df, _ = _build([half_orbit(n=1500)], cfg, kp=kp)  # 07:02 .. 08:17
    assert (df["kp"] == 3.333).all()


# --------------------------------------------------------------------------- validation suite
def test_suite_catches_planted_violations_and_passes_the_rest(cfg, repo_root):
    df, _ = _build([half_orbit(half=1), half_orbit(half=0, start=T0 + np.timedelta64(1, "h"))],
                   cfg)
    bad = df.copy()
    bad.loc[5, "te_k"] = 20000.0
    bad.loc[10, "time"] = bad.loc[8, "time"]  # time goes backwards within a half-orbit
    bad = bad.drop(index=range(101, 301, 2)).reset_index(drop=True)  # 100 gaps, 14 % of steps
    spec = validate.load_suite_json(repo_root / "expectations", "tracks")
    report = validate.validate_frame(validate.tracks_frame(bad), spec, "tracks_cses",
                                     parameters=validate.tracks_parameters(cfg))
    failed = {(f.column, f.expectation) for f in report.failures}
    assert failed == {
        ("te_k", "expect_column_values_to_be_between"),
        ("dt_s", "expect_column_values_to_be_between"),
        ("time", "expect_column_values_to_be_increasing"),
        ("gap_step", "expect_column_mean_to_be_between"),  # 14 % > max_gap_share 5 %
    }, report.summary()
    assert report.evaluated == len(spec["expectations"])


# --------------------------------------------------------------------------- the stage
@pytest.fixture(scope="module")
def stage_mlflow(tmp_path_factory):
    """One private sqlite MLflow store for the stage tests (creating one costs seconds)."""
    import mlflow  # deferred: heavy

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        yield uri
        if mlflow.active_run():
            mlflow.end_run()


def _raw_dir(tmp_path, satellite="cses"):
    raw = tmp_path / "raw" / satellite
    raw.mkdir(parents=True)
    module, cadence = (cses, 3.0) if satellite == "cses" else (demeter, 1.0)
    night = half_orbit(n=300, half=1, orbit=17420, cadence_s=cadence, satellite=satellite)
    night.ne_cm3[100] = -9999.0
    day = half_orbit(n=300, half=0, orbit=17420, cadence_s=cadence, satellite=satellite,
                     start=T0 + np.timedelta64(50, "m"))
    day.te_k[7] = -3.0
    for ho in (night, day):
        module.write_half_orbit(raw, ho)
    (raw / "truth.parquet").write_bytes(b"not a parquet file: the stage must never open it")
    kp = tmp_path / "kp.parquet"
    _kp().to_parquet(kp)
    return raw, kp


@pytest.mark.parametrize("satellite", ["cses", "demeter"])
def test_stage_writes_contracted_table_and_counts(tmp_path, cfg, stage_mlflow, satellite):
    raw, kp = _raw_dir(tmp_path, satellite)
    before = tree_hash(raw)
    out, metrics = tmp_path / "interim" / f"tracks_{satellite}.parquet", tmp_path / "m.json"
    tracks.run_stage(cfg, satellite, raw, kp, out, metrics)
    df = pd.read_parquet(out)
    assert list(df.columns) == list(TRACK_COLUMNS)
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"
    assert df["time"].is_monotonic_increasing
    assert set(df["half_orbit_id"]) == {174200, 174201}
    counts = json.loads(metrics.read_text())
    assert counts["satellite"] == satellite
    assert counts["files"] == 2 and counts["records_read"] == 600
    assert counts["dropped"]["fill_ne"] == 1 and counts["dropped"]["te_negative"] == 1
    assert counts["records_dropped"] == 2
    assert counts["samples_out"] == len(df)
    assert tree_hash(raw) == before  # raw files untouched
    import mlflow  # deferred: heavy

    run = mlflow.search_runs(
        experiment_names=[cfg.mlflow.experiment], filter_string=f"tags.satellite = '{satellite}'",
        order_by=["attributes.start_time DESC"], output_format="list")[0]
    assert run.data.metrics["dropped.fill_ne"] == 1.0
    assert run.data.tags["satellite"] == satellite


def test_stage_failure_leaves_no_half_written_output(tmp_path, cfg, stage_mlflow):
    raw, _ = _raw_dir(tmp_path)
    kp = tmp_path / "late_kp.parquet"
    _kp(start="2019-11-19").to_parquet(kp)  # covers none of the samples
    out_dir = tmp_path / "interim"
    out_dir.mkdir()
    out = out_dir / "tracks_cses.parquet"
    out.write_bytes(b"previous complete version")
    with pytest.raises(InputError, match="kp: no Kp interval covers"):
        tracks.run_stage(cfg, "cses", raw, kp, out, out_dir / "m.json")
    assert out.read_bytes() == b"previous complete version"
    assert sorted(p.name for p in out_dir.iterdir()) == ["tracks_cses.parquet"]


def test_stage_rejects_an_empty_raw_dir(tmp_path, cfg, stage_mlflow):
    (tmp_path / "raw").mkdir()
    with pytest.raises(InputError, match="no cses raw files"):
        tracks.run_stage(cfg, "cses", tmp_path / "raw", tmp_path / "kp.parquet",
                         tmp_path / "o.parquet", tmp_path / "m.json")


def test_tracks_command_through_the_cli(tmp_path, repo_root, stage_mlflow):
    raw, kp = _raw_dir(tmp_path)
    out, metrics = tmp_path / "tracks_cses.parquet", tmp_path / "tracks_cses.json"
    args = ["tracks", "cses", "--raw-dir", str(raw), "--out", str(out), "--metrics",
            str(metrics), "--params", str(repo_root / "params.yaml")]
    result = CliRunner().invoke(app, [*args, "--kp", str(kp)])
    assert result.exit_code == 0, result.output
    assert json.loads(metrics.read_text())["records_dropped"] == 2
    late = tmp_path / "late.parquet"
    _kp(start="2019-11-19").to_parquet(late)
    result = CliRunner().invoke(app, [*args, "--kp", str(late)])
    assert result.exit_code == 1
    assert f"error: {late}: kp: no Kp interval covers" in result.output


# --------------------------------------------------------------------------- parallel ingest
def test_worker_count_resolves_all_cores_and_caps_at_the_files():
    assert tracks.worker_count(None, 1000) == (os.cpu_count() or 1)
    assert tracks.worker_count(0, 1000) == (os.cpu_count() or 1)
    assert tracks.worker_count(8, 3) == 3
    assert tracks.worker_count(1, 50) == 1


def _more_raw_files(raw, n_orbits=2):
    """Extra CSES files (two halves per orbit) after the _raw_dir ones, one fill value each."""
    for k in range(1, n_orbits + 1):
        for half, minutes in ((1, 95 * k), (0, 95 * k + 50)):
            start = T0 + np.timedelta64(minutes, "m")
            ho = half_orbit(n=250, half=half, orbit=17420 + k, start=start)
            ho.ne_cm3[10 * k] = 0.0
            cses.write_half_orbit(raw, ho)


def test_parallel_read_writes_exactly_the_serial_table(tmp_path, cfg, stage_mlflow):
    raw, kp = _raw_dir(tmp_path)
    _more_raw_files(raw)
    outputs = {}
    for workers in (1, 2):
        c = cfg.model_copy(update={"tracks": cfg.tracks.model_copy(update={"workers": workers})})
        out, metrics = tmp_path / f"w{workers}" / "tracks.parquet", tmp_path / f"w{workers}.json"
        tracks.run_stage(c, "cses", raw, kp, out, metrics)
        outputs[workers] = (out.read_bytes(), json.loads(metrics.read_text()))
    assert outputs[1][1]["files"] == 6 and outputs[1][1]["records_dropped"] == 6
    assert outputs[2][1] == outputs[1][1]
    assert outputs[2][0] == outputs[1][0]  # byte for byte: same rows, same order


def test_a_bad_file_read_in_the_pool_names_the_file_and_field(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    good = write_lap(raw)
    bad = write_lap(raw, name=good.name.replace("070216_20191118_070313", "080216_20191118_080313"),
                    drop=("A321",))
    paths = sorted([good, bad])
    with pytest.raises(InputError) as serial:
        tracks.read_half_orbits("cses", paths, workers=1)
    with pytest.raises(InputError) as pooled:
        tracks.read_half_orbits("cses", paths, workers=2)
    assert str(pooled.value) == str(serial.value)
    assert str(pooled.value).startswith(f"{bad}: A321")
    assert pooled.value.path == str(bad) and pooled.value.field == "A321"
