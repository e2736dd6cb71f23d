"""DEMETER N1 .DAT: the documented container at its documented offsets, ISL round trip."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from rawfiles import half_orbit, tree_hash
from seqnetquake.errors import InputError
from seqnetquake.sources import demeter


def _demeter_half(n: int = 120, half: int = 1, cadence_s: float = 1.0):
    return half_orbit(n=n, half=half, orbit=12345, cadence_s=cadence_s, satellite="demeter")


def test_write_read_round_trip(tmp_path):
    ho = _demeter_half()
    ho.lon = np.linspace(175.0, 185.0, len(ho)) % 360 - 180
    path = demeter.write_half_orbit(tmp_path, ho)
    assert path.name == "DMT_N1_1141_123451_20191118_070216_20191118_070415.DAT"
    assert path.stat().st_size == 120 * 300
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    before = tree_hash(tmp_path)
    back = demeter.read_half_orbit(path)
    assert (back.satellite, back.orbit, back.half, back.half_orbit_id) == (
        "demeter", 12345, 1, 123451)
    np.testing.assert_array_equal(back.time, ho.time)
    for attr in ("lat", "lon", "alt_km", "mlat", "ne_cm3", "te_k"):
        np.testing.assert_allclose(getattr(back, attr), getattr(ho, attr), rtol=1e-6, atol=1e-4)
    assert demeter.check_file(path) == []
    assert tree_hash(tmp_path) == before


def test_container_follows_the_documented_offsets(tmp_path):
    """Read record 1 with struct at the offsets FORMATS.md documents, not with our dtype."""
    ho = _demeter_half(n=3, half=0)
    path = demeter.write_half_orbit(tmp_path, ho)
    raw = path.read_bytes()[300:600]
    days = int.from_bytes(raw[1:4], "big")
    assert days == (np.datetime64("2019-11-18") - np.datetime64("1950-01-01")).astype(int)
    assert struct.unpack(">I", raw[4:8])[0] == (7 * 3600 + 2 * 60 + 17) * 1000 + 123
    assert struct.unpack(">7H", raw[8:22]) == (2019, 11, 18, 7, 2, 17, 123)
    assert struct.unpack(">HH", raw[22:26]) == (12345, 0)  # orbit number, orbit type (day)
    lat, lon, alt = struct.unpack(">3f", raw[38:50])
    assert (lat, alt) == pytest.approx((float(ho.lat[1]), 507.0), abs=1e-4)
    isl = raw[38 + 90 + 76:]
    assert len(isl) == 96
    assert isl[:10].rstrip(b"\0") == b"ISL_SURVEY"
    assert isl[46:52].rstrip(b"\0") == b"cm-3"
    ne, te = struct.unpack(">2f", isl[76:84])
    assert (ne, te) == pytest.approx((1e5, float(ho.te_k[1])), rel=1e-6)


def test_burst_cadence_gets_the_burst_apid(tmp_path):
    path = demeter.write_half_orbit(tmp_path, _demeter_half(n=50, cadence_s=0.5))
    assert path.name.startswith("DMT_N1_1142_")
    assert len(demeter.read_half_orbit(path)) == 50


def test_header_must_agree_with_the_name(tmp_path):
    path = demeter.write_half_orbit(tmp_path, _demeter_half(n=5, half=1))
    wrong = path.with_name(path.name.replace("_123451_", "_123450_"))
    path.rename(wrong)
    with pytest.raises(InputError, match="orbit_number: header orbit 123451 disagrees"):
        demeter.read_half_orbit(wrong)


def test_layout_assumption_mismatch_fails_loudly(tmp_path):
    path = demeter.write_half_orbit(tmp_path, _demeter_half(n=5))
    data = bytearray(path.read_bytes())
    data[204:214] = b"IAP_SURVEY"  # another experiment block where ISL is assumed
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        demeter.read_half_orbit(path)
    assert str(err.value).startswith(f"{path}: data_type: 'IAP_SURVEY' is not the declared ISL "
                                     "data type ISL_SURVEY (layout assumption")


def test_name_convention():
    name = demeter.parse_name("DMT_N1_1141_123451_20191118_070216_20191118_070415.DAT")
    assert (name.apid, name.orbit, name.half) == (1141, 12345, 1)
    with pytest.raises(InputError, match="APID 1140 is not an ISL APID"):
        demeter.parse_name("DMT_N1_1140_123451_20191118_070216_20191118_070415.DAT")
    with pytest.raises(InputError, match="name: does not match"):
        demeter.parse_name("DMT_N1_1141_12345_20191118_070216_20191118_070415.DAT")
