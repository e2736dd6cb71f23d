"""CSES-01 LAP Level-2 HDF5: read and write one half-orbit file (layout in docs/formats.md).

The reader is strict about structure (name, datasets, lengths, units, time stamps) and raises
:class:`InputError`; it is lenient about record values (fills, spikes, negative Te), which the
tracks stage drops or flags by rule and ``seqnetquake check`` reports. The writer exists for the
simulator, so simulated and real files go through the same reader.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from seqnetquake.errors import InputError
from seqnetquake.fileio import atomic_path
from seqnetquake.sources import records
from seqnetquake.sources.base import HalfOrbit

SATELLITE = "cses"
SUFFIX = ".h5"
SURVEY_CADENCE_S = 3.0  # LAP survey, 1/3 Hz; burst is faster
NAME_RE = re.compile(
    r"^CSES_01_LAP_(?P<probe>[12])_L02_A3_(?P<orbit>\d{5})(?P<half>[01])_"
    r"(?P<start>\d{8}_\d{6})_(?P<end>\d{8}_\d{6})_000\.h5$"
)
NAME_PATTERN = "CSES_01_LAP_<1|2>_L02_A3_<orbit5><0|1>_<YYYYMMDD_HHMMSS>_<YYYYMMDD_HHMMSS>_000.h5"
VERSE_EPOCH = np.datetime64("2009-01-01T00:00:00", "ns")

# dataset -> (units attribute written, HalfOrbit attribute it feeds or None)
DATASETS: dict[str, tuple[str, str | None]] = {
    "A311": ("1/m^3", "ne_cm3"),
    "A321": ("K", "te_k"),
    "GEO_LAT": ("degree", "lat"),
    "GEO_LON": ("degree", "lon"),
    "ALTITUDE": ("km", "alt_km"),
    "MAG_LAT": ("degree", "mlat"),
    "MAG_LON": ("degree", None),
    "UTC_TIME": ("ms", "time"),
    "VERSE_TIME": ("ms", None),
}
REQUIRED = ("UTC_TIME", "A311", "A321", "GEO_LAT", "GEO_LON", "ALTITUDE", "MAG_LAT")
FIELD_NAMES = {attr: name for name, (_, attr) in DATASETS.items() if attr}
# A311 units -> factor to cm^-3, after lower-casing and removing ' ', '^', '#'.
NE_UNIT_TO_CM3 = {
    "1/m3": 1e-6, "m-3": 1e-6, "/m3": 1e-6, "1/cm3": 1.0, "cm-3": 1.0, "/cm3": 1.0,
}


@dataclass(frozen=True)
class FileName:
    probe: int
    orbit: int
    half: int  # 0 = day, 1 = night (csespy: the ...1 files are the night side)
    start: dt.datetime
    end: dt.datetime


def parse_name(path: str | Path) -> FileName:
    """The file-name fields; InputError (field ``name``) if the name breaks the convention."""
    name = Path(path).name
    m = NAME_RE.match(name)
    if m is None:
        raise InputError(path, "name", f"does not match {NAME_PATTERN}")
    start, end = records.name_interval(path, m["start"], m["end"])
    return FileName(int(m["probe"]), int(m["orbit"]), int(m["half"]), start, end)


def file_name(ho: HalfOrbit, probe: int = 1) -> str:
    start, end = (_second_stamp(t) for t in (ho.time[0], ho.time[-1]))
    return f"CSES_01_LAP_{probe}_L02_A3_{ho.orbit:05d}{ho.half}_{start}_{end}_000.h5"


def _second_stamp(t: np.datetime64) -> str:
    return np.datetime_as_string(np.datetime64(t, "s"), unit="s").replace("-", "").replace(
        ":", ""
    ).replace("T", "_")


# --------------------------------------------------------------------------- time codecs
def encode_utc_time(time: np.ndarray) -> np.ndarray:
    """datetime64 -> int64 YYYYMMDDhhmmssmmm (truncated to the millisecond)."""
    year, month, day, hour, minute, second, ms = records.time_components(time)
    return (
        ((((year * 100 + month) * 100 + day) * 100 + hour) * 100 + minute) * 100 + second
    ) * 1000 + ms


def decode_utc_time(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int YYYYMMDDhhmmssmmm -> (datetime64[ns], valid mask). Vectorised; no string parsing."""
    v = np.asarray(code, dtype=np.int64)
    rest, ms = np.divmod(v, 1000)
    rest, second = np.divmod(rest, 100)
    rest, minute = np.divmod(rest, 100)
    rest, hour = np.divmod(rest, 100)
    rest, day = np.divmod(rest, 100)
    year, month = np.divmod(rest, 100)
    time, valid = records.compose_time(year, month, day, hour, minute, second, ms)
    return time, valid & (v > 0)


def verse_time(time: np.ndarray) -> np.ndarray:
    """datetime64 -> int64 ms since 2009-01-01 (VERSE_TIME)."""
    return (np.asarray(time).astype("datetime64[ns]") - VERSE_EPOCH).astype(np.int64) // 1_000_000


# --------------------------------------------------------------------------- writer
def write_half_orbit(directory: str | Path, ho: HalfOrbit, probe: int = 1) -> Path:
    """Write ``ho`` as a LAP L02 file named by the convention; atomic (complete or absent)."""
    if len(ho) == 0:
        raise ValueError("cannot write an empty half-orbit")
    if ho.half not in (0, 1):
        raise ValueError(f"half must be 0 (day) or 1 (night), got {ho.half}")
    final = Path(directory) / file_name(ho, probe)
    columns = {
        "A311": _ne_m3(ho.ne_cm3),
        "A321": ho.te_k,
        "GEO_LAT": ho.lat,
        "GEO_LON": ho.lon,
        "ALTITUDE": ho.alt_km,
        "MAG_LAT": ho.mlat,
        "MAG_LON": records.dipole_mlon(ho.lat, ho.lon),
    }
    with atomic_path(final) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["ORBITNUM"] = np.array([ho.orbit], dtype=np.int32)
        for name, values in columns.items():
            _write_dataset(f, name, np.asarray(values, dtype=np.float32))
        _write_dataset(f, "UTC_TIME", encode_utc_time(ho.time))
        _write_dataset(f, "VERSE_TIME", verse_time(ho.time))
    return final


def _ne_m3(ne_cm3: np.ndarray) -> np.ndarray:
    """cm^-3 -> m^-3 for A311; a fill value is written as is, so that it stays a fill value."""
    ne = np.asarray(ne_cm3, dtype=np.float64)
    return np.where(records.fill_mask(ne, zero_is_fill=True), ne, ne * 1e6)


def _write_dataset(f: h5py.File, name: str, values: np.ndarray) -> None:
    ds = f.create_dataset(name, data=values.reshape(-1, 1))
    ds.attrs["units"] = np.array([DATASETS[name][0].encode()])


# --------------------------------------------------------------------------- reader
def _read_content(path: Path) -> tuple[int, dict[str, np.ndarray], float]:
    """ORBITNUM, the required datasets as 1-D arrays, and the A311 -> cm^-3 factor."""
    records.file_size(path)  # a clear error for an unreadable or empty file first
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(path, "file", f"not a readable HDF5 file ({_hdf5_reason(exc)})") from exc
    with f:
        missing = [name for name in REQUIRED if name not in f]
        if missing:
            raise InputError(path, missing[0], "missing dataset")
        if "ORBITNUM" not in f.attrs:
            raise InputError(path, "ORBITNUM", "missing file attribute")
        try:
            orbitnum = int(np.ravel(f.attrs["ORBITNUM"])[0])
        except (TypeError, ValueError, IndexError) as exc:
            raise InputError(path, "ORBITNUM", f"not an integer: {exc}") from exc
        arrays: dict[str, np.ndarray] = {}
        for name in REQUIRED:
            ds = f[name]
            if not isinstance(ds, h5py.Dataset):
                raise InputError(path, name, "is a group, not a dataset")
            if ds.ndim not in (1, 2) or (ds.ndim == 2 and ds.shape[1] != 1):
                raise InputError(path, name, f"shape {ds.shape}, expected (N, 1)")
            try:
                arrays[name] = ds[()].reshape(-1)
            except (OSError, ValueError) as exc:
                raise InputError(path, name, "cannot read dataset (truncated or corrupt: "
                                 f"{_hdf5_reason(exc)})") from exc
        factor = _ne_factor(path, f["A311"])
    n = len(arrays["UTC_TIME"])
    for name in REQUIRED:
        if len(arrays[name]) != n:
            raise InputError(path, name, f"length {len(arrays[name])} differs from UTC_TIME's {n}")
    if n == 0:
        raise InputError(path, "UTC_TIME", "no records")
    return orbitnum, arrays, factor


def _hdf5_reason(exc: Exception) -> str:
    """The useful part of an HDF5 error: 'truncated file: eof = ...', 'file signature ...'."""
    detail = re.search(r"\((.+)\)", str(exc))
    return (detail.group(1) if detail else str(exc)) or type(exc).__name__


def _ne_factor(path: Path, ds: h5py.Dataset) -> float:
    if "units" not in ds.attrs:
        raise InputError(path, "A311", "missing units attribute")
    raw = np.ravel(ds.attrs["units"])[0]
    unit = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    key = unit.lower().replace(" ", "").replace("^", "").replace("#", "")
    if key not in NE_UNIT_TO_CM3:
        raise InputError(path, "A311", f"unknown units {unit!r} (expected 1/m^3)")
    return NE_UNIT_TO_CM3[key]


def _utc(path: Path, raw: np.ndarray) -> np.ndarray:
    """Decode UTC_TIME; a float64 dataset is accepted, but 17 digits exceed 2**53: +-2 ms."""
    if raw.dtype.kind == "f":
        finite = np.isfinite(raw)
        if not finite.all():
            row = records.first_row(~finite)
            raise InputError(path, "UTC_TIME", f"unparsable value {raw[row]!r}", row)
        raw = np.rint(raw)
    elif raw.dtype.kind not in "iu":
        raise InputError(path, "UTC_TIME", f"dtype {raw.dtype}, expected integer YYYYMMDDhhmmssmmm")
    time, valid = decode_utc_time(raw)
    if not valid.all():
        row = records.first_row(~valid)
        raise InputError(path, "UTC_TIME", f"unparsable value {int(raw[row])}", row)
    return time


def read_half_orbit(path: str | Path) -> HalfOrbit:
    """One LAP L02 file as a HalfOrbit (Ne in cm^-3, lon in [-180, 180)). Never writes."""
    path = Path(path)
    name = parse_name(path)
    orbitnum, arrays, factor = _read_content(path)
    if orbitnum != name.orbit:
        raise InputError(path, "ORBITNUM",
                         f"{orbitnum} disagrees with the file name's {name.orbit}")
    return HalfOrbit(
        satellite=SATELLITE,
        orbit=name.orbit,
        half=name.half,
        time=_utc(path, arrays["UTC_TIME"]),
        lat=arrays["GEO_LAT"].astype(np.float64),
        lon=records.wrap_lon(arrays["GEO_LON"]),
        alt_km=arrays["ALTITUDE"].astype(np.float64),
        mlat=arrays["MAG_LAT"].astype(np.float64),
        ne_cm3=_ne_cm3(arrays["A311"], factor),
        te_k=arrays["A321"].astype(np.float64),
        source_path=str(path),
    )


def _ne_cm3(raw: np.ndarray, factor: float) -> np.ndarray:
    """A311 in cm^-3; fill values become NaN, since scaling would disguise a -9999 sentinel."""
    raw = raw.astype(np.float64)
    return np.where(records.fill_mask(raw, zero_is_fill=True), np.nan, raw * factor)


def _check_load(path: Path, name: FileName | None, lines: list[str]) -> HalfOrbit:
    """``check_file``'s reading: raw units, so that fills show as written."""
    orbitnum, arrays, _ = _read_content(path)
    if name is not None and orbitnum != name.orbit:
        lines.append(str(InputError(path, "ORBITNUM",
                                    f"{orbitnum} disagrees with the file name's {name.orbit}")))
    return HalfOrbit(
        satellite=SATELLITE, orbit=orbitnum, half=name.half if name else 0,
        time=_utc(path, arrays["UTC_TIME"]), lat=arrays["GEO_LAT"], lon=arrays["GEO_LON"],
        alt_km=arrays["ALTITUDE"], mlat=arrays["MAG_LAT"],
        ne_cm3=arrays["A311"], te_k=arrays["A321"],  # raw units: fills show as written
        source_path=str(path),
    )


def check_file(path: str | Path) -> list[str]:
    """Problems with one file, one ``PATH: FIELD: problem`` line each; [] if the file is fine."""
    return records.check_file(path, parse_name, _check_load, FIELD_NAMES)
