"""CSES LAP L02 HDF5: the reader on a hand-written file, the writer round trip, the codecs."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from rawfiles import LAP_NAME, half_orbit, lap_datasets, tree_hash, write_lap
from seqnetquake.errors import InputError
from seqnetquake.sources import cses


def test_reader_on_hand_written_file(tmp_path):
    path = write_lap(tmp_path)
    before = tree_hash(tmp_path)
    ho = cses.read_half_orbit(path)
    assert (ho.satellite, ho.orbit, ho.half, ho.half_orbit_id) == ("cses", 17420, 1, 174201)
    assert len(ho) == 20
    assert ho.time[0] == np.datetime64("2019-11-18T07:02:16.123", "ns")
    assert np.all(np.diff(ho.time) == np.timedelta64(3, "s"))
    np.testing.assert_allclose(ho.ne_cm3, 1.2e5)  # m^-3 -> cm^-3
    np.testing.assert_allclose(ho.lon, -170.0)  # 190 E -> [-180, 180)
    np.testing.assert_allclose(ho.te_k, np.linspace(1000, 1100, 20))
    np.testing.assert_allclose(ho.mlat, np.linspace(-20, 0, 20))
    assert ho.time.dtype == np.dtype("datetime64[ns]")
    assert tree_hash(tmp_path) == before  # raw files are never modified


def test_reader_accepts_one_dimensional_datasets_and_float_utc(tmp_path):
    datasets = lap_datasets()
    path = tmp_path / LAP_NAME
    with h5py.File(path, "w") as f:
        f.attrs["ORBITNUM"] = np.array([17420])
        for key, values in datasets.items():
            data = values.astype(np.float64) if key == "UTC_TIME" else values
            f.create_dataset(key, data=data).attrs["units"] = np.array([b"1/m^3"])
    ho = cses.read_half_orbit(path)
    # float64 holds 17 digits only to +-2 ms (2e16 > 2**53): close, not exact
    error = ho.time[-1] - np.datetime64("2019-11-18T07:03:13.123", "ns")
    assert abs(error) <= np.timedelta64(4, "ms")


def test_write_read_round_trip(tmp_path):
    ho = half_orbit(n=500, half=0, orbit=9876)
    ho.lon = np.linspace(170.0, 200.0, 500) % 360 - 180  # crosses the dateline
    path = cses.write_half_orbit(tmp_path, ho)
    assert path.name == "CSES_01_LAP_1_L02_A3_098760_20191118_070216_20191118_072713_000.h5"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind
    back = cses.read_half_orbit(path)
    assert (back.orbit, back.half) == (9876, 0)
    np.testing.assert_array_equal(back.time, ho.time)
    for attr in ("lat", "lon", "alt_km", "mlat", "ne_cm3", "te_k"):
        np.testing.assert_allclose(getattr(back, attr), getattr(ho, attr), rtol=1e-6, atol=1e-4)
    with h5py.File(path) as f:
        assert f["A311"].shape == (500, 1)
        assert f["A311"].attrs["units"][0] == b"1/m^3"
        assert int(f.attrs["ORBITNUM"][0]) == 9876
        np.testing.assert_allclose(f["A311"][:, 0], 1e11, rtol=1e-6)  # stored in m^-3
        verse = f["VERSE_TIME"][:, 0]
    assert verse[0] == (ho.time[0] - np.datetime64("2009-01-01", "ns")) // np.timedelta64(1, "ms")
    assert cses.check_file(path) == []


def test_writer_leaves_nothing_on_failure(tmp_path):
    ho = half_orbit(n=10)
    ho.te_k = np.array(["hot"] * 10)
    with pytest.raises(ValueError):
        cses.write_half_orbit(tmp_path, ho)
    assert list(tmp_path.iterdir()) == []


def test_utc_time_codec():
    t = np.array(["2019-02-28T23:59:59.999", "2020-02-29T00:00:00.001"], dtype="datetime64[ns]")
    codes = cses.encode_utc_time(t)
    assert codes.tolist() == [20190228235959999, 20200229000000001]
    back, valid = cses.decode_utc_time(codes)
    assert valid.all() and (back == t).all()
    bad = np.array([20191318000000000, 20190230000000000, 20190101240000000, 123, -5])
    assert not cses.decode_utc_time(bad)[1].any()


def test_reader_raises_input_error_naming_file_and_field(tmp_path):
    path = write_lap(tmp_path, drop=("A321",))
    with pytest.raises(InputError) as err:
        cses.read_half_orbit(path)
    assert str(err.value) == f"{path}: A321: missing dataset"


def test_name_convention():
    name = cses.parse_name(LAP_NAME)
    assert (name.probe, name.orbit, name.half) == (1, 17420, 1)
    for bad in ("CSES_01_LAP_1_L02_A3_17420_20191118_070216_20191118_070313_000.h5",
                "CSES_01_LAP_1_L02_A3_174202_20191118_070216_20191118_070313_000.h5",
                "CSES_01_EFD_1_L02_A3_174201_20191118_070216_20191118_070313_000.h5"):
        with pytest.raises(InputError, match="name: does not match"):
            cses.parse_name(bad)
