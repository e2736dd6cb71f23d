"""The windows stage end to end on parquet inputs, and the authors' npz layout round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqnetquake.cli import app
from seqnetquake.config import ConfigError, load_config
from seqnetquake.windows import run_stage
from seqnetquake.windowset import load_dataset
from windows_fixtures import catalog, pass_, track

REPO = Path(__file__).resolve().parents[1]
EVENT_TIME = pd.Timestamp("2019-12-01T12:00:00", tz="UTC")


def _raw_cfg():
    """The repository's params with the paper's raw channels (these inputs have no background)."""
    cfg = load_config(REPO / "params.yaml")
    raw = cfg.windows.model_copy(update={"features": ["ne_cm3", "te_k"]})
    return cfg.model_copy(update={"windows": raw})


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """Dataset 07 (Dobrovolsky, T = 20, night) built by the stage from hand-built inputs."""
    tmp = tmp_path_factory.mktemp("windows")
    # 24 night passes 2 days apart cycling over 4 sites, each labelled by its own event a day
    # later (real at the first two sites, artificial at the others): 48 days, 24 events, so
    # the split can keep events whole with its 15-day gap.
    start = EVENT_TIME - pd.Timedelta(days=48)
    step = pd.Timedelta(days=2)
    sites = [(-0.5, 0.0), (29.5, -60.0), (-0.5, 90.0), (-30.5, 150.0)]
    rows, passes = [], []
    for i in range(24):
        lat0, lon = sites[i % 4]
        when = start + i * step + pd.Timedelta(days=1)
        rows.append((f"iscgem:{i}" if i % 4 < 2 else f"art-cses-{i:05d}", when, lat0 + 0.5, lon,
                     6.0 if i % 4 < 2 else 5.5, "mainshock" if i % 4 < 2 else "artificial"))
        passes.append(pass_(start + i * step, 50, lat0, lon, 10 * i + 1, kp=4.0 if i == 5 else 1))
        passes.append(pass_(start + i * step + step / 2, 50, lat0, lon, 10 * i, half_orbit="day"))
    cat = catalog(rows)
    tracks_path, catalog_path = tmp / "tracks_cses.parquet", tmp / "catalog_cses.parquet"
    track(*passes).to_parquet(tracks_path, index=False)
    cat.to_parquet(catalog_path, index=False)

    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
    try:
        run_stage(_raw_cfg(), "07", tracks_path, catalog_path, tmp / "07")
    finally:
        mp.undo()
    return tmp


def test_stage_outputs(processed):
    out = processed / "07"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "test.npz", "train.npz"]
    train, test = load_dataset(out)
    assert train.X.shape[1:] == (20, 2) and train.X.dtype == np.float32
    assert train.y.dtype == np.int64 and train.t0.dtype == np.dtype("datetime64[ns]")
    assert train.t0.max() < test.t0.min()
    assert not set(train.event_id) & set(test.event_id)
    manifest = json.loads((out / "manifest.json").read_text())
    w, split = manifest["windows"], manifest["split"]
    # 24 night passes of 50 samples -> 2 windows of 20 each; pass 5 is a storm
    dropped = split["dropped_in_gap"]["total"] + split["dropped_straddling"]["total"]
    assert w["train"]["total"] + w["test"]["total"] + dropped == 48
    assert w["train"]["2"] + w["test"]["2"] == 2
    assert w["train"]["total"] == 28 and w["test"]["total"] == 6 and dropped == 14
    # the gap: 7 passes (2 days apart) fall within 15 days before the cut
    assert split["gap_days"] == 15.0 and split["cut"] == str(test.t0.min())
    last_end = train.t0.max() + np.timedelta64(int(19 * 1.5e9), "ns")
    assert test.t0.min() - last_end >= np.timedelta64(15, "D")
    assert split["events_on_both_sides"] == 0
    assert split["achieved_fraction"] == round(6 / 34, 4) and split["target_fraction"] == 0.2
    assert manifest["samples"]["samples_in_half_orbit"] == 24 * 50
    assert manifest["data_kind"] == "simulated" and manifest["config"]["T"] == 20
    assert len(manifest["inputs"]["tracks"]["md5"]) == 32


def test_export_round_trip(processed, tmp_path):
    out = tmp_path / "CSES_07_input.npz"
    result = CliRunner().invoke(
        app, ["export-npz", "07", str(out), "--processed-dir", str(processed)]
    )
    assert result.exit_code == 0, result.output
    train, test = load_dataset(processed / "07")
    with np.load(out, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(
            ["train_X", "train_y", "test_X", "test_y", "test_EQ_LABELS", "test_EQ_NUM"]
        )
        assert data["train_X"].shape == (len(train), 20, 2)
        assert data["test_X"].shape == (len(test), 20, 2)
        for key in ("train_y",):
            assert data[key].shape == (len(train), 1)
        for key in ("test_y", "test_EQ_LABELS", "test_EQ_NUM"):
            assert data[key].shape == (len(test), 1)
        np.testing.assert_array_equal(data["train_X"], train.X)
        np.testing.assert_array_equal(data["test_y"][:, 0], test.y)
        real = ~np.char.startswith(test.event_id.astype(str), "art-")
        np.testing.assert_array_equal(data["test_EQ_LABELS"][:, 0], real.astype(np.int64))
        # one number per event, the same for all of its windows
        numbers = data["test_EQ_NUM"][:, 0]
        for event in np.unique(test.event_id):
            assert len(set(numbers[test.event_id == event])) == 1
        assert len(set(numbers)) == len(np.unique(test.event_id))


def test_windows_table(processed):
    result = CliRunner().invoke(app, ["windows-table", "--processed-dir", str(processed),
                                      "--params", str(REPO / "params.yaml")])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("| dataset |") and len(lines) == 2 + 11
    row = next(line for line in lines if line.startswith("| 07 |"))
    assert row.split("|")[-2].strip() == "34"  # kept windows (14 dropped by the split)
    assert "| 01 | cses | night | 10 | 3.0 |" + " - |" * 7 in lines


def test_unknown_dataset_is_one_clear_line():
    result = CliRunner().invoke(app, ["windows", "99", "--params", str(REPO / "params.yaml")])
    assert result.exit_code != 0
    assert "must be one of 01" in result.output


def test_stage_fails_on_a_violation_and_writes_nothing(tmp_path):
    """One event cannot be split: the stage stops before writing, naming the parameter."""
    cat = catalog([("iscgem:1", EVENT_TIME, 0.0, 0.0, 6.0, "mainshock")])
    tracks_path, catalog_path = tmp_path / "tracks.parquet", tmp_path / "catalog.parquet"
    pass_(EVENT_TIME - pd.Timedelta(days=1), 60, -0.5, 0.0, 11).to_parquet(tracks_path)
    cat.to_parquet(catalog_path)
    with pytest.raises(ConfigError, match="windows.split_gap_days"):
        run_stage(_raw_cfg(), "07", tracks_path, catalog_path,
                  tmp_path / "07")
    assert not (tmp_path / "07").exists()
