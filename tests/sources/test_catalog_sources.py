"""The three catalogue layouts, and every bad input rejected with one clear line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from seqnetquake.cli import app
from seqnetquake.errors import InputError
from seqnetquake.sources.catalog_sources import read_catalog_csv

COMCAT_HEADER = (
    "time,latitude,longitude,depth,mag,magType,nst,gap,dmin,rms,net,id,updated,place,type,"
    "horizontalError,depthError,magError,magNst,status,locationSource,magSource"
)
GOOD_ROW = (
    "2019-12-01T03:51:13.000Z,-20.809,-69.667,56.1,5.1,mb,64,109.1,,,us,usp000jxpn,"
    '2020-11-07T01:49:43.070Z,"83 km SE of Iquique, Chile",earthquake,,,,18,reviewed,guc,us'
)
runner = CliRunner()


def _comcat(tmp_path: Path, *rows: str, header: str = COMCAT_HEADER) -> Path:
    path = tmp_path / "comcat.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_shipped_catalogues_read(repo_root):
    counts = {}
    for path in sorted((repo_root / "data/external/catalogs").glob("*.csv")):
        df = read_catalog_csv(path)
        counts[path.name] = (len(df), int((df["event_type"] == "earthquake").sum()))
    # Row and earthquake counts from data/external/catalogs/SOURCES.md.
    assert counts == {
        "iscgem_v7.0_main_1904-2016.csv": (39160, 39160),
        "usgs_comcat_M4.5_2019-11-30_2020-12-31.csv": (7150, 7149),
        "usgs_comcat_M5.0_2013-01_2023-11.csv": (18334, 18275),
        "usgs_significant_M5.5_1965-2016_kaggle.csv": (23412, 23232),
    }


def test_kaggle_iso_rows_parse(repo_root):
    df = read_catalog_csv(
        repo_root / "data/external/catalogs/usgs_significant_M5.5_1965-2016_kaggle.csv"
    )
    tohoku = df[df["time"].dt.strftime("%Y-%m-%d %H:%M:%S") == "2011-03-13 02:23:34"]
    assert len(tohoku) == 1
    assert df["time"].notna().all()


BAD_INPUTS = {
    "missing column": (
        lambda p: _comcat(
            p,
            GOOD_ROW.replace(",5.1,mb,", ",5.1,mb,"),
            header=COMCAT_HEADER.replace(",mag,", ",magnitude,"),
        ),
        "mag: missing required column",
    ),
    "unparsable time": (
        lambda p: _comcat(p, GOOD_ROW, GOOD_ROW.replace("2019-12-01T", "2019-13-45T")),
        "time: unparsable time '2019-13-45T03:51:13.000Z' (row 3)",
    ),
    "non-numeric magnitude": (
        lambda p: _comcat(p, GOOD_ROW.replace(",5.1,mb,", ",five,mb,")),
        "mag: non-numeric magnitude 'five' (row 2)",
    ),
    "absurd magnitude": (
        lambda p: _comcat(p, GOOD_ROW.replace(",5.1,mb,", ",15.1,mb,")),
        "mag: magnitude outside [-1, 10]: 15.1 (row 2)",
    ),
    "latitude out of range": (
        lambda p: _comcat(p, GOOD_ROW.replace("-20.809", "-95.5")),
        "latitude: latitude outside [-90, 90]: -95.5 (row 2)",
    ),
    "longitude out of range": (
        lambda p: _comcat(p, GOOD_ROW.replace("-69.667", "269.667")),
        "longitude: longitude outside [-180, 180]: 269.667 (row 2)",
    ),
    "missing magnitude": (
        lambda p: _comcat(p, GOOD_ROW.replace(",5.1,mb,", ",,mb,")),
        "mag: missing magnitude (row 2)",
    ),
}


def _empty(p: Path) -> Path:
    path = p / "empty.csv"
    path.write_text("")
    return path


def _binary(p: Path) -> Path:
    path = p / "catalog.csv"
    path.write_bytes(b"\x89HDF\r\n\x1a\n\x00\x00\x00\x01\x02")
    return path


def _header_only(p: Path) -> Path:
    return _comcat(p)


def _not_a_catalogue(p: Path) -> Path:
    path = p / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")
    return path


BAD_FILES = {
    "empty file": (_empty, "file: empty file"),
    "not CSV": (_binary, "file: not a CSV file (binary content)"),
    "header only": (_header_only, "file: empty file (header only)"),
    "unknown layout": (_not_a_catalogue, "header: not a known catalogue layout"),
}


@pytest.mark.parametrize("case", sorted({**BAD_INPUTS, **BAD_FILES}))
def test_bad_input_one_line_via_check(tmp_path, case):
    make, expected = {**BAD_INPUTS, **BAD_FILES}[case]
    path = make(tmp_path)
    with pytest.raises(InputError) as err:
        read_catalog_csv(path)
    assert str(err.value) == f"{path}: {expected}" or str(err.value).startswith(
        f"{path}: {expected}"
    )
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert lines == [str(err.value)]


def test_check_good_file_passes_and_mixed_reports_each_bad(tmp_path):
    good = _comcat(tmp_path, GOOD_ROW)
    (tmp_path / "b").mkdir()
    bad = _empty(tmp_path / "b")
    assert runner.invoke(app, ["check", str(good)]).exit_code == 0
    result = runner.invoke(app, ["check", str(good), str(bad)])
    assert result.exit_code == 1
    assert result.stdout.strip().splitlines() == [f"{bad}: file: empty file"]


def test_catalog_stage_rejects_bad_input_and_writes_nothing(tmp_path, mlflow_uri, repo_root):
    catalogs = tmp_path / "catalogs"
    catalogs.mkdir()
    shutil.copy(repo_root / "data/external/catalogs/usgs_comcat_M5.0_2013-01_2023-11.csv", catalogs)
    _comcat(catalogs, GOOD_ROW.replace("-20.809", "-95.5"))
    out = tmp_path / "interim"
    result = runner.invoke(
        app,
        [
            "catalog",
            "--params",
            str(repo_root / "params.yaml"),
            "--catalog-dir",
            str(catalogs),
            "--out-dir",
            str(out),
            "--metrics",
            str(tmp_path / "catalog.json"),
        ],
    )
    assert result.exit_code == 1
    assert "comcat.csv: latitude: latitude outside [-90, 90]: -95.5 (row 2)" in result.output
    assert not out.exists() and not (tmp_path / "catalog.json").exists()


def test_catalog_stage_writes_contracted_tables(tmp_path, mlflow_uri, repo_root):
    import mlflow  # deferred: heavy

    out = tmp_path / "interim"
    metrics = tmp_path / "catalog.json"
    result = runner.invoke(
        app,
        [
            "catalog",
            "--params",
            str(repo_root / "params.yaml"),
            "--catalog-dir",
            str(repo_root / "data/external/catalogs"),
            "--out-dir",
            str(out),
            "--metrics",
            str(metrics),
        ],
    )
    assert result.exit_code == 0, result.output
    counts = json.loads(metrics.read_text())
    for satellite in ("cses", "demeter"):
        table = pd.read_parquet(out / f"catalog_{satellite}.parquet")
        assert list(table.columns) == [
            "event_id",
            "time",
            "latitude",
            "longitude",
            "depth_km",
            "magnitude",
            "source",
            "kind",
        ]
        assert table["kind"].value_counts().to_dict() == {
            k: v
            for k, v in counts[satellite].items()
            if k in ("mainshock", "aftershock", "artificial") and v
        }
        assert counts[satellite]["artificial"] == counts[satellite]["mainshock"]
    runs = mlflow.search_runs(experiment_names=["seqnetquake"])
    assert len(runs) == 1 and runs["tags.stage"].iloc[0] == "catalog"
    assert runs["metrics.cses.mainshock"].iloc[0] == counts["cses"]["mainshock"]
    assert runs["tags.git_commit"].iloc[0] != ""
