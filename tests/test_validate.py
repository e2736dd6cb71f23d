"""Great Expectations suites: real tables pass, planted violations are caught and summarised."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seqnetquake import catalog, validate
from seqnetquake.cli import app
from seqnetquake.config import MissionConfig
from seqnetquake.errors import ValidationFailed
from seqnetquake.geo import mission_bounds
from seqnetquake.kp import load_kp


@pytest.fixture(scope="module")
def tables(cfg, repo_root):
    merged = catalog.dedupe(catalog.read_sources(repo_root / "data/external/catalogs"), cfg.catalog)
    cses, _ = catalog.build_catalog(merged, cfg, "cses")
    demeter, _ = catalog.build_catalog(merged, cfg, "demeter")
    return {"catalog_cses": cses, "kp": load_kp(cfg), "catalog_demeter": demeter}


def test_suites_are_gx_json(repo_root):
    for path in (repo_root / "expectations").glob("*.json"):
        spec = json.loads(path.read_text())
        assert spec["name"] == path.stem
        assert all(set(e) >= {"type", "kwargs"} for e in spec["expectations"])


def _write(tmp_path, name, df):
    path = tmp_path / f"{name}.parquet"
    df.to_parquet(path)
    return path


def test_validate_stage_passes_on_real_tables(tmp_path, tables, cfg, mlflow_uri, repo_root):
    paths = [_write(tmp_path, n, df) for n, df in tables.items()]
    out = tmp_path / "validation.json"
    validate.run_stage(cfg, paths, out, tmp_path / "docs")
    summary = json.loads(out.read_text())
    assert summary["success"] and summary["failed_expectations"] == 0
    assert (tmp_path / "docs" / "index.html").is_file()


def test_one_data_docs_site_lists_every_validation(tmp_path, tables, cfg, mlflow_uri):
    import mlflow  # deferred: heavy

    paths = [_write(tmp_path, n, df) for n, df in tables.items()]  # two tables of one suite
    docs = tmp_path / "docs"
    validate.run_stage(cfg, paths, tmp_path / "validation.json", docs)
    index = (docs / "index.html").read_text()
    for name in tables:
        assert f"{name}-" in index, name  # each validation's row: <table>-<suite>
    pages = [p for p in (docs / "validations").rglob("*.html")]
    assert len(pages) == len(tables)
    (run,) = mlflow.search_runs(experiment_names=[cfg.mlflow.experiment], output_format="list")
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id,
                                                                    "data_docs")}
    assert "data_docs/index.html" in logged


def test_planted_violations_are_caught(tmp_path, tables, cfg, mlflow_uri, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    bad_catalog = tables["catalog_cses"].copy()
    bad_catalog.loc[bad_catalog.index[:3], "latitude"] = 95.0
    bad_catalog.loc[bad_catalog.index[5], "magnitude"] = 4.2  # below min_magnitude (a param)
    bad_kp = tables["kp"].copy()
    bad_kp.loc[bad_kp.index[10], "kp"] = 3.5  # not a third
    paths = [_write(tmp_path, "catalog_cses", bad_catalog), _write(tmp_path, "kp", bad_kp)]
    out = tmp_path / "validation.json"
    runner = CliRunner()
    result = runner.invoke(
        app, ["validate", *map(str, paths), "--out", str(out), "--docs", str(tmp_path / "docs")]
    )
    assert result.exit_code == 1
    assert "catalog: latitude: expect_column_values_to_be_between: 3 rows" in result.output
    assert "catalog: magnitude: expect_column_values_to_be_between: 1 rows" in result.output
    assert "kp: thirds_residual: expect_column_values_to_be_between: 1 rows" in result.output
    summary = json.loads(out.read_text())
    assert summary["success"] is False and summary["failed_expectations"] == 3
    with pytest.raises(ValidationFailed):
        validate.run_stage(cfg, paths, out, tmp_path / "docs")


def test_unknown_table_is_refused(tmp_path, cfg):
    with pytest.raises(ValidationFailed, match="no suite"):
        validate.suite_for(tmp_path / "something.parquet")


# --------------------------------------------------------------------------- suite tables
def test_tracks_frame_derives_steps_and_gap_share():
    t = pd.to_datetime(["2019-01-01T00:00:00", "2019-01-01T00:00:01.5", "2019-01-01T00:00:06",
                        "2019-01-01T01:00:00", "2019-01-01T01:00:01.5"], utc=True,
                       format="ISO8601")
    df = pd.DataFrame({"time": t.as_unit("ns"), "half_orbit_id": [11, 11, 11, 20, 20]})
    out = validate.tracks_frame(df)
    np.testing.assert_allclose(out["dt_s"], [np.nan, 1.5, 4.5, np.nan, 1.5])
    np.testing.assert_allclose(out["gap_step"], [np.nan, 0, 1, np.nan, 0])


def test_mission_bounds_are_half_open_and_flag_the_catalogue_period(cfg):
    mission = MissionConfig(start=dt.date(2019, 1, 1), end=dt.date(2019, 1, 31),
                            lat_coverage_deg=65.0)
    start, end = mission_bounds(mission)
    assert (start, end) == (pd.Timestamp("2019-01-01", tz="UTC"),
                            pd.Timestamp("2019-02-01", tz="UTC"))  # end day included
    ns = pd.Timedelta(1, unit="ns")
    times = [start - ns, start, end - ns, end]
    df = pd.DataFrame({"time": pd.DatetimeIndex(times).as_unit("ns")})
    c = cfg.model_copy(update={"missions": {**cfg.missions, "cses": mission}})
    table, parameters = validate.catalog_table(df, c, "cses")
    assert table["in_mission_period"].tolist() == [False, True, True, False]
    assert parameters == {"min_magnitude": cfg.catalog.min_magnitude}


def test_expectations_dir_is_under_the_repository_root_else_relative(cfg, repo_root, tmp_path,
                                                                       monkeypatch):
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(repo_root / "src")  # a sub-folder of the repository
    assert validate.expectations_dir(cfg) == repo_root / "expectations"
    assert (validate.expectations_dir(cfg) / "windows.json").is_file()
    monkeypatch.chdir(tmp_path)  # outside any repository: the current folder is the root
    assert validate.expectations_dir(cfg) == Path("expectations")  # not there: as configured
    (tmp_path / "expectations").mkdir()
    assert validate.expectations_dir(cfg) == tmp_path.resolve() / "expectations"


def test_kp_table_derives_hours_and_thirds():
    start = pd.date_range("2019-01-01", periods=3, freq="3h", tz="UTC")
    df = pd.DataFrame({"start": start, "end": start + pd.Timedelta(hours=3),
                       "kp": [1 / 3, 3.5, 9.0]})
    table, _ = validate.kp_table(df, None, "")
    assert table["hours"].tolist() == [3.0, 3.0, 3.0]
    np.testing.assert_allclose(table["thirds_residual"], [0.0, 0.5, 0.0], atol=1e-12)
