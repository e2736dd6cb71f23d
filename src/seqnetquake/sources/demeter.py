"""DEMETER N1 ``.DAT`` (big-endian records): read and write one half-orbit of ISL Ne/Te.

The container (38 B general header, 90 B orbit block, 76 B attitude block) is documented
(pysatIncubator, FORMATS.md). The ISL Langmuir-probe experiment block and the ISL APIDs are not
publicly documented: :data:`ISL_BLOCK` and :data:`ISL_APIDS` are this project's declared
assumption (docs/formats.md, "DEMETER ISL: our declared assumption"), kept here in one place so
that checking them against the CNES/CDPP documentation means editing one struct. A real ISL file
that disagrees fails loudly on the data-type or unit fields instead of being misread.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqnetquake.contracts import NS_PER_S
from seqnetquake.errors import InputError
from seqnetquake.fileio import atomic_path
from seqnetquake.sources import records
from seqnetquake.sources.base import HalfOrbit

SATELLITE = "demeter"
SUFFIX = ".DAT"
SURVEY_CADENCE_S = 1.0  # ISL: Ne and Te at 1 s time resolution (Lebreton et al. 2006)

# ---- documented container (pysatIncubator demeter.py) -------------------------------------
GENERAL_HEADER = np.dtype([
    ("p_field", "u1"),
    ("days_1950", "u1", (3,)),  # days since 1950-01-01, 24-bit big-endian
    ("ms_of_day", ">u4"),
    ("year", ">u2"), ("month", ">u2"), ("day", ">u2"), ("hour", ">u2"),
    ("minute", ">u2"), ("second", ">u2"), ("millisecond", ">u2"),
    ("orbit_number", ">u2"),
    ("orbit_type", ">u2"),  # 0 = downward, day (10:30 LT); 1 = upward, night (22:30 LT)
    ("station", "S8"),
    ("sw_version", "u1"), ("sw_subversion", "u1"), ("cal_version", "u1"), ("cal_subversion", "u1"),
])
ORBIT_BLOCK = np.dtype([
    *((name, ">f4") for name in (
        "geo_lat_deg", "geo_lon_deg", "alt_km", "lt_h", "mag_lat_deg", "mag_lon_deg", "mlt_h",
        "inv_lat_deg", "l_shell", "conj_lat_deg", "conj_lon_deg", "conj_n110_lat_deg",
        "conj_n110_lon_deg", "conj_s110_lat_deg", "conj_s110_lon_deg", "b1_nt", "b2_nt",
        "b3_nt", "proton_gyrofreq_hz", "sun_x", "sun_y", "sun_z",
    )),
    ("version", "u1"), ("subversion", "u1"),
])
ATTITUDE_BLOCK = np.dtype([
    ("sat2geo", ">f4", (9,)), ("geo2lgm", ">f4", (9,)), ("quality", ">u2"),
    ("version", "u1"), ("subversion", "u1"),
])

# ---- DECLARED ASSUMPTION: the ISL experiment block (modelled on the documented IAP block) ---
ISL_BLOCK = np.dtype([
    ("data_type", "S10"),  # b"ISL_SURVEY" or b"ISL_BURST" (null-padded)
    ("status", "u1", (32,)),
    ("time_resolution_s", ">f4"),  # offset 42, as in IAP
    ("units", "S6", (5,)),  # offsets 46-76: units of the five values below
    ("ne_cm3", ">f4"),  # offset 76: electron density
    ("te_k", ">f4"),  # electron temperature
    ("ni_cm3", ">f4"),  # ion density
    ("plasma_potential_v", ">f4"),
    ("satellite_potential_v", ">f4"),
])
ISL_UNITS = (b"cm-3", b"K", b"cm-3", b"V", b"V")
ISL_APIDS = {1141: b"ISL_SURVEY", 1142: b"ISL_BURST"}  # DECLARED (range 1129-1144 is real)
SURVEY_APID = 1141
BURST_APID = 1142
# ---------------------------------------------------------------------------------------------

RECORD = np.dtype([
    ("header", GENERAL_HEADER), ("orbit", ORBIT_BLOCK), ("attitude", ATTITUDE_BLOCK),
    ("isl", ISL_BLOCK),
])
assert (GENERAL_HEADER.itemsize, ORBIT_BLOCK.itemsize, ATTITUDE_BLOCK.itemsize) == (38, 90, 76)
assert ISL_BLOCK.itemsize == 96 and RECORD.itemsize == 300

NAME_RE = re.compile(
    r"^DMT_N1_(?P<apid>\d{4})_(?P<orbit>\d{5})(?P<half>[01])_"
    r"(?P<start>\d{8}_\d{6})_(?P<end>\d{8}_\d{6})\.DAT$"
)
NAME_PATTERN = "DMT_N1_<APID>_<orbit5><0|1>_<YYYYMMDD_HHMMSS>_<YYYYMMDD_HHMMSS>.DAT"
EPOCH_1950 = np.datetime64("1950-01-01", "D")
FIELD_NAMES = {
    "time": "UT", "lat": "geo_lat_deg", "lon": "geo_lon_deg", "alt_km": "alt_km",
    "mlat": "mag_lat_deg", "ne_cm3": "ne_cm3", "te_k": "te_k",
}
BURST_MAX_STEP_S = 0.75  # a half-orbit whose median step is below this is written as burst


@dataclass(frozen=True)
class FileName:
    apid: int
    orbit: int
    half: int  # the half-orbit digit: 0 = downward (day), 1 = upward (night)
    start: dt.datetime
    end: dt.datetime


def parse_name(path: str | Path) -> FileName:
    """The file-name fields; InputError (field ``name``) if the name breaks the convention."""
    m = NAME_RE.match(Path(path).name)
    if m is None:
        raise InputError(path, "name", f"does not match {NAME_PATTERN}")
    apid = int(m["apid"])
    if apid not in ISL_APIDS:
        raise InputError(path, "name", f"APID {apid} is not an ISL APID (declared: "
                         f"{SURVEY_APID} survey, {BURST_APID} burst)")
    start, end = records.name_interval(path, m["start"], m["end"])
    return FileName(apid, int(m["orbit"]), int(m["half"]), start, end)


def _stamp(t: np.datetime64) -> str:
    text = np.datetime_as_string(np.datetime64(t, "s"), unit="s")
    return text.replace("-", "").replace(":", "").replace("T", "_")


def file_name(ho: HalfOrbit, apid: int) -> str:
    return f"DMT_N1_{apid}_{ho.orbit:05d}{ho.half}_{_stamp(ho.time[0])}_{_stamp(ho.time[-1])}.DAT"


# --------------------------------------------------------------------------- writer
def encode_records(ho: HalfOrbit, apid: int) -> np.ndarray:
    """A HalfOrbit as N1 records. Fields the simulator does not model are NaN (floats) or 0."""
    n = len(ho)
    rec = np.zeros(n, dtype=RECORD)
    t = ho.time.astype("datetime64[ms]")
    h = rec["header"]
    days = (t.astype("datetime64[D]") - EPOCH_1950).astype(np.int64)
    h["days_1950"] = np.stack([(days >> 16) & 0xFF, (days >> 8) & 0xFF, days & 0xFF], axis=1)
    h["ms_of_day"] = (t - t.astype("datetime64[D]")).astype(np.int64)
    for name, values in zip(
        ("year", "month", "day", "hour", "minute", "second", "millisecond"),
        records.time_components(t), strict=True,
    ):
        h[name] = values
    h["orbit_number"] = ho.orbit
    h["orbit_type"] = ho.half
    h["station"] = b"SEQNETQK"
    h["sw_version"], h["cal_version"] = 1, 1

    o = rec["orbit"]
    for name in ORBIT_BLOCK.names:
        if ORBIT_BLOCK[name].kind == "f":
            o[name] = np.nan
    lat = np.asarray(ho.lat, dtype=np.float64)
    lon = np.asarray(ho.lon, dtype=np.float64)
    mlat = np.asarray(ho.mlat, dtype=np.float64)
    o["geo_lat_deg"], o["geo_lon_deg"], o["alt_km"], o["mag_lat_deg"] = lat, lon, ho.alt_km, mlat
    o["lt_h"] = local_time_h(ho.time, lon)
    o["mag_lon_deg"] = records.dipole_mlon(lat, lon)
    with np.errstate(divide="ignore", invalid="ignore"):  # L is infinite at the dipole pole
        l_shell = (1.0 + np.asarray(ho.alt_km) / 6371.2) / np.cos(np.radians(mlat)) ** 2
        o["l_shell"] = l_shell
        o["inv_lat_deg"] = np.sign(mlat) * np.degrees(np.arccos(np.sqrt(1.0 / l_shell)))
    o["version"] = 1

    a = rec["attitude"]
    a["sat2geo"] = a["geo2lgm"] = np.eye(3, dtype=np.float32).ravel()
    a["version"] = 1

    isl = rec["isl"]
    isl["data_type"] = ISL_APIDS[apid]
    step = np.diff(ho.time.astype("datetime64[ns]").view(np.int64)) / NS_PER_S
    isl["time_resolution_s"] = np.append(step, step[-1:]) if n > 1 else SURVEY_CADENCE_S
    isl["units"] = ISL_UNITS
    isl["ne_cm3"], isl["te_k"] = ho.ne_cm3, ho.te_k
    isl["ni_cm3"] = isl["plasma_potential_v"] = isl["satellite_potential_v"] = np.nan
    return rec


def local_time_h(time: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Mean solar local time (h): UTC + lon / 15."""
    t = np.asarray(time).astype("datetime64[ns]")
    utc_h = (t - t.astype("datetime64[D]")).astype(np.int64) / 3.6e12
    return (utc_h + np.asarray(lon_deg) / 15.0) % 24.0


def write_half_orbit(directory: str | Path, ho: HalfOrbit, apid: int | None = None) -> Path:
    """Write ``ho`` as an N1 ISL file named by the convention; atomic (complete or absent).

    The APID defaults to survey, or burst when the median sampling step is below 0.75 s.
    """
    if len(ho) == 0:
        raise ValueError("cannot write an empty half-orbit")
    if ho.half not in (0, 1):
        raise ValueError(f"half must be 0 (day) or 1 (night), got {ho.half}")
    if apid is None:
        step = np.diff(ho.time.astype("datetime64[ns]").view(np.int64))
        burst = len(step) > 0 and np.median(step) / NS_PER_S < BURST_MAX_STEP_S
        apid = BURST_APID if burst else SURVEY_APID
    final = Path(directory) / file_name(ho, apid)
    rec = encode_records(ho, apid)
    with atomic_path(final) as tmp:
        rec.tofile(tmp)
    return final


# --------------------------------------------------------------------------- reader
def _read_records(path: Path) -> np.ndarray:
    size = records.file_size(path)
    whole, partial = divmod(size, RECORD.itemsize)
    if partial:
        raise InputError(path, "record", f"truncated: {size} B is not a whole number of "
                         f"{RECORD.itemsize} B records ({partial} B left over)", whole)
    return np.fromfile(path, dtype=RECORD)


def _text(raw: bytes) -> str:
    return bytes(raw).rstrip(b" \0").decode("ascii", errors="replace")


def _decode(path: Path, rec: np.ndarray, name: FileName | None) -> HalfOrbit:
    """Records -> HalfOrbit, checking the declared ISL layout and the header's consistency."""
    h, isl = rec["header"], rec["isl"]
    data_type = isl["data_type"]
    allowed = [ISL_APIDS[name.apid]] if name else list(ISL_APIDS.values())
    bad_type = ~np.isin(data_type, allowed)
    if bad_type.any():
        row = records.first_row(bad_type)
        raise InputError(path, "data_type", f"{_text(data_type[row])!r} is not the declared ISL "
                         f"data type {' or '.join(_text(a) for a in allowed)} (layout "
                         "assumption, docs/formats.md)", row)
    units = tuple(_text(u) for u in isl["units"][0][:2])
    declared = tuple(_text(u) for u in ISL_UNITS[:2])
    if units != declared:
        raise InputError(path, "units", f"Ne/Te units {units} differ from the declared "
                         f"{declared} (layout assumption, docs/formats.md)", 0)
    for field in ("orbit_number", "orbit_type"):
        values = h[field]
        changed = values != values[0]
        if changed.any():
            raise InputError(path, field, "changes within the file", records.first_row(changed))
    orbit, half = int(h["orbit_number"][0]), int(h["orbit_type"][0])
    if half not in (0, 1):
        raise InputError(path, "orbit_type", f"{half}, expected 0 (day) or 1 (night)", 0)
    if name is not None and (orbit, half) != (name.orbit, name.half):
        raise InputError(path, "orbit_number", f"header orbit {orbit}{half} disagrees with the "
                         f"file name's {name.orbit:05d}{name.half}")
    time, valid = records.compose_time(*(h[f] for f in (
        "year", "month", "day", "hour", "minute", "second", "millisecond")))
    if not valid.all():
        row = records.first_row(~valid)
        fields = "-".join(str(int(h[f][row])) for f in ("year", "month", "day"))
        raise InputError(path, "UT", f"unparsable date/time {fields} "
                         f"{int(h['hour'][row])}:{int(h['minute'][row])}:"
                         f"{int(h['second'][row])}.{int(h['millisecond'][row])}", row)
    o = rec["orbit"]
    return HalfOrbit(
        satellite=SATELLITE, orbit=orbit, half=half, time=time,
        lat=o["geo_lat_deg"].astype(np.float64),
        lon=records.wrap_lon(o["geo_lon_deg"]),
        alt_km=o["alt_km"].astype(np.float64),
        mlat=o["mag_lat_deg"].astype(np.float64),
        ne_cm3=isl["ne_cm3"].astype(np.float64),
        te_k=isl["te_k"].astype(np.float64),
        source_path=str(path),
    )


def read_half_orbit(path: str | Path) -> HalfOrbit:
    """One N1 ISL file as a HalfOrbit (half from the header's orbit type). Never writes."""
    path = Path(path)
    name = parse_name(path)
    return _decode(path, _read_records(path), name)


def _check_load(path: Path, name: FileName | None, lines: list[str]) -> HalfOrbit:
    """``check_file``'s reading: decode, then compare the header's day count with the UT."""
    rec = _read_records(path)
    ho = _decode(path, rec, name)
    h = rec["header"]
    days = (h["days_1950"].astype(np.int64) << np.array([16, 8, 0])).sum(axis=1)
    header_time = (EPOCH_1950 + days).astype("datetime64[ns]") + (
        h["ms_of_day"].astype(np.int64) * 1_000_000).astype("timedelta64[ns]")
    disagree = header_time != ho.time.astype("datetime64[ms]").astype("datetime64[ns]")
    if disagree.any():
        lines.append(str(InputError(path, "days_1950", "day count / ms of day disagree with "
                                    "the UT fields", records.first_row(disagree))))
    return ho


def check_file(path: str | Path) -> list[str]:
    """Problems with one file, one ``PATH: FIELD: problem`` line each; [] if the file is fine."""
    return records.check_file(path, parse_name, _check_load, FIELD_NAMES)
