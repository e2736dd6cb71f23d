"""``seqnetquake check`` on raw dumps: each bad input is one PATH: FIELD: problem line, exit 1."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from rawfiles import LAP_NAME, half_orbit, lap_datasets, tree_hash, write_lap
from seqnetquake.check import check_paths
from seqnetquake.cli import app
from seqnetquake.config import SATELLITES
from seqnetquake.sources import demeter
from seqnetquake.sources.formats import FORMATS, format_for
from seqnetquake.tracks import raw_files


def _check(*paths):
    result = CliRunner().invoke(app, ["check", *map(str, paths)])
    return result.exit_code, result.stdout.splitlines()


def _one_problem(path, field, *words):
    code, lines = _check(path)
    assert code == 1, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: {field}: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- CSES HDF5
def _lap(tmp_path, **changes):
    datasets = lap_datasets()
    for key, (index, value) in changes.items():
        datasets[key] = datasets[key].astype(type(value))
        datasets[key][index] = value
    return write_lap(tmp_path, datasets=datasets)


def test_good_files_pass(tmp_path):
    lap = write_lap(tmp_path)
    dat = demeter.write_half_orbit(tmp_path, half_orbit(n=30, satellite="demeter", cadence_s=1.0))
    before = tree_hash(tmp_path)
    code, lines = _check(lap, dat, tmp_path)  # a directory expands to its raw files
    assert (code, lines) == (0, [])
    assert tree_hash(tmp_path) == before


def test_truncated_hdf5(tmp_path):
    path = write_lap(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _one_problem(path, "file", "not a readable HDF5 file")


def test_corrupt_hdf5(tmp_path):
    path = tmp_path / LAP_NAME
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    _one_problem(path, "file", "not a readable HDF5 file")


def test_empty_file(tmp_path):
    path = tmp_path / LAP_NAME
    path.touch()
    _one_problem(path, "file", "empty file")


def test_missing_dataset(tmp_path):
    _one_problem(write_lap(tmp_path, drop=("A311",)), "A311", "missing dataset")


def test_datasets_of_different_lengths(tmp_path):
    datasets = lap_datasets()
    datasets["A321"] = datasets["A321"][:-3]
    _one_problem(write_lap(tmp_path, datasets=datasets), "A321", "length 17 differs", "20")


def test_fill_values(tmp_path):
    line = _one_problem(_lap(tmp_path, A311=(3, -9999.0)), "A311", "1 fill value(s)")
    assert line.endswith("(row 3)")


def test_utc_time_unparsable(tmp_path):
    line = _one_problem(_lap(tmp_path, UTC_TIME=(5, 20191318070231123)), "UTC_TIME",
                        "unparsable value 20191318070231123")
    assert line.endswith("(row 5)")


def test_utc_time_going_backwards(tmp_path):
    datasets = lap_datasets()
    datasets["UTC_TIME"][[7, 8]] = datasets["UTC_TIME"][[8, 7]]
    line = _one_problem(write_lap(tmp_path, datasets=datasets), "UTC_TIME", "goes backwards by 3 s")
    assert line.endswith("(row 8)")


def test_negative_te(tmp_path):
    _one_problem(_lap(tmp_path, A321=(4, -20.0)), "A321", "negative temperature -20.0 K")


def test_nan_coordinates(tmp_path):
    _one_problem(_lap(tmp_path, GEO_LAT=(2, np.nan)), "GEO_LAT", "NaN coordinate")


@pytest.mark.parametrize("name", [
    "CSES_01_LAP_1_L02_A3_17420_20191118_070216_20191118_070313_000.h5",  # orbit field 5 digits
    "cses_lap_174201.h5",
])
def test_name_not_matching_the_convention(tmp_path, name):
    _one_problem(write_lap(tmp_path, name=name), "name", "does not match CSES_01_LAP_")


# --------------------------------------------------------------------------- DEMETER .DAT
def _dat(tmp_path, n=30, **values):
    ho = half_orbit(n=n, satellite="demeter", cadence_s=1.0, orbit=12345)
    for attr, (index, value) in values.items():
        getattr(ho, attr)[index] = value
    return demeter.write_half_orbit(tmp_path, ho)


def test_dat_truncated_record(tmp_path):
    path = _dat(tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    line = _one_problem(path, "record", "truncated", "200 B left over")
    assert line.endswith("(row 29)")


def test_dat_empty(tmp_path):
    path = _dat(tmp_path)
    path.write_bytes(b"")
    _one_problem(path, "file", "empty file")


def test_dat_bad_name(tmp_path):
    path = _dat(tmp_path)
    bad = path.rename(tmp_path / "DMT_N1_1141_12345.DAT")
    _one_problem(bad, "name", "does not match DMT_N1_")


def test_dat_time_backwards(tmp_path):
    ho = half_orbit(n=30, satellite="demeter", cadence_s=1.0)
    ho.time[[10, 11]] = ho.time[[11, 10]]
    path = demeter.write_half_orbit(tmp_path, ho)
    _one_problem(path, "UT", "goes backwards by 1 s")


def test_dat_fill_value_and_negative_te(tmp_path):
    _one_problem(_dat(tmp_path, ne_cm3=(2, -9999.0)), "ne_cm3", "1 fill value(s)")
    path = _dat(tmp_path / "", n=31, te_k=(2, -5.0))
    _one_problem(path, "te_k", "negative temperature -5.0 K")


# --------------------------------------------------------------------------- dispatch
def test_missing_and_unsupported_paths(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    missing = tmp_path / "nope.h5"
    assert check_paths([missing, other]) == [
        f"{missing}: file: not found",
        f"{other}: file: unsupported file type",
    ]
    code, lines = _check(other)
    assert code == 1 and lines == [f"{other}: file: unsupported file type"]


def test_one_format_table_serves_check_tracks_and_the_simulator(tmp_path):
    assert tuple(FORMATS) == SATELLITES
    for satellite, source in FORMATS.items():
        assert format_for(satellite) is source and satellite == source.SATELLITE
        assert set(source.FIELD_NAMES) >= {"time", "lat", "lon", "ne_cm3", "te_k"}
    assert [f.SUFFIX for f in FORMATS.values()] == [".h5", ".DAT"]
    with pytest.raises(ValueError, match=r"unknown satellite 'swarm' \(known: cses, demeter\)"):
        format_for("swarm")
    # dispatch by suffix, case-insensitive: a lower-case .dat is checked as a DEMETER file
    dat = _dat(tmp_path, ne_cm3=(2, -9999.0))
    lower = dat.rename(dat.with_suffix(".dat"))
    lines = check_paths([lower])
    assert len(lines) == 2 and lines[0].startswith(f"{lower}: name: does not match DMT_N1_")
    assert lines[1].startswith(f"{lower}: ne_cm3: 1 fill value(s)")


# --------------------------------------------------------------------------- file system traps
def test_links_loops_and_directories_named_like_data(tmp_path):
    """A symlink loop, a dangling link and a directory named like a raw file are each one line
    (never skipped, never "OK"); the count says how many files were really checked."""
    good = write_lap(tmp_path)
    (tmp_path / "loop").symlink_to(tmp_path)  # a directory link back to its parent
    (tmp_path / "self.h5").symlink_to(tmp_path / "self.h5")  # a link to itself
    (tmp_path / "gone.h5").symlink_to(tmp_path / "nowhere.h5")
    (tmp_path / "DMT_N1_1141_12345_20070101_000000_20070101_003000.DAT").mkdir()
    code, lines = _check(tmp_path)
    assert code == 1
    assert sorted(lines) == sorted([
        f"{tmp_path / 'DMT_N1_1141_12345_20070101_000000_20070101_003000.DAT'}: file: "
        "a directory, not a data file",
        f"{tmp_path / 'gone.h5'}: file: dangling symbolic link (-> {tmp_path / 'nowhere.h5'})",
        f"{tmp_path / 'loop'}: file: symbolic link loop (-> {tmp_path})",
        f"{tmp_path / 'self.h5'}: file: symbolic link loop",
    ])
    # The same traps named directly on the command line.
    code, lines = _check(tmp_path / "self.h5", tmp_path / "gone.h5")
    assert code == 1 and [line.split(": ")[-1] for line in lines] == [
        "symbolic link loop", f"dangling symbolic link (-> {tmp_path / 'nowhere.h5'})"]
    result = CliRunner().invoke(app, ["check", str(good), str(good)])
    assert result.exit_code == 0 and "2 file(s) checked, OK" in result.stderr


def test_empty_directory_is_not_ok(tmp_path):
    code, lines = _check(tmp_path)
    assert code == 1 and lines == [f"{tmp_path}: file: no supported input files "
                                   "(.h5, .dat, .csv)"]


def test_tracks_refuses_loops_and_dangling_links(tmp_path, repo_root, mlflow_uri):
    """`seqnetquake tracks` fails with one line on the first trap (raw dumps never skipped)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    write_lap(raw)
    assert len(raw_files("cses", raw)) == 1
    (raw / "sub").mkdir()
    (raw / "sub" / "up").symlink_to(raw)
    (raw / "x.h5").mkdir()
    out = tmp_path / "tracks.parquet"
    result = CliRunner().invoke(app, [
        "tracks", "cses", "--raw-dir", str(raw), "--kp", str(tmp_path / "kp.parquet"),
        "--out", str(out), "--metrics", str(tmp_path / "m.json"),
        "--params", str(repo_root / "params.yaml")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {raw / 'sub' / 'up'}: file: symbolic link loop (-> {raw}) "
        "(and 1 more such problem(s))")
    assert not out.exists()
