"""Great Expectations suites: real tables pass, planted violations are caught and summarised."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from seqnetquake import catalog, validate
from seqnetquake.cli import app
from seqnetquake.errors import ValidationFailed
from seqnetquake.sources import kp


@pytest.fixture(scope="module")
def tables(cfg, repo_root):
    merged = catalog.dedupe(catalog.read_sources(repo_root / "data/external/catalogs"), cfg.catalog)
    cses, _ = catalog.build_catalog(merged, cfg, "cses")
    demeter, _ = catalog.build_catalog(merged, cfg, "demeter")
    return {"catalog_cses": cses, "kp": kp.load_kp(cfg), "catalog_demeter": demeter}


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
    import mlflow

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
