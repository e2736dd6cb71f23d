"""Raw files for tests, written by hand from the documented layouts (not with our writers)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np

from seqnetquake.sources.base import HalfOrbit

T0 = np.datetime64("2019-11-18T07:02:16.123", "ns")


def utc_codes(start: str, n: int, step_ms: int) -> np.ndarray:
    """YYYYMMDDhhmmssmmm integers by string formatting, independent of the reader's arithmetic."""
    t0 = np.datetime64(start, "ms")
    out = []
    for i in range(n):
        s = np.datetime_as_string(t0 + np.timedelta64(i * step_ms, "ms"), unit="ms")
        out.append(int(s.replace("-", "").replace("T", "").replace(":", "").replace(".", "")))
    return np.array(out, dtype=np.int64)


def lap_datasets(n: int = 20, start: str = "2019-11-18T07:02:16.123") -> dict[str, np.ndarray]:
    """A plausible night-side LAP half-orbit segment as the documented datasets, shape (N, 1)."""
    verse0 = (np.datetime64(start, "ms") - np.datetime64("2009-01-01T00:00:00", "ms")).astype(int)
    return {
        "A311": np.full(n, 1.2e11),  # m^-3 -> 1.2e5 cm^-3
        "A321": np.linspace(1000.0, 1100.0, n),
        "GEO_LAT": np.linspace(-10.0, 10.0, n),
        "GEO_LON": np.full(n, 190.0),  # 0..360 convention -> -170
        "ALTITUDE": np.full(n, 507.0),
        "MAG_LAT": np.linspace(-20.0, 0.0, n),
        "MAG_LON": np.full(n, 250.0),
        "UTC_TIME": utc_codes(start, n, 3000),
        "VERSE_TIME": verse0 + np.arange(n, dtype=np.int64) * 3000,
    }


UNITS = {"A311": b"1/m^3", "A321": b"K", "GEO_LAT": b"degree", "GEO_LON": b"degree",
         "ALTITUDE": b"km", "MAG_LAT": b"degree", "MAG_LON": b"degree", "UTC_TIME": b"ms",
         "VERSE_TIME": b"ms"}
LAP_NAME = "CSES_01_LAP_1_L02_A3_174201_20191118_070216_20191118_070313_000.h5"


def write_lap(directory: Path, name: str = LAP_NAME, orbitnum: int = 17420,
              datasets: dict[str, np.ndarray] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """Write a LAP L02 file by hand with h5py: (N, 1) datasets, bytes ``units``, ORBITNUM."""
    datasets = lap_datasets() if datasets is None else datasets
    path = Path(directory) / name
    with h5py.File(path, "w") as f:
        f.attrs["ORBITNUM"] = np.array([orbitnum])
        for key, values in datasets.items():
            if key in drop:
                continue
            ds = f.create_dataset(key, data=np.asarray(values).reshape(-1, 1))
            ds.attrs["units"] = np.array([UNITS[key]])
    return path


def half_orbit(
    n: int = 200, cadence_s: float = 3.0, half: int = 1, orbit: int = 17420,
    start: np.datetime64 = T0, lon0: float | None = None, satellite: str = "cses",
    ne_cm3: float = 1e5,
) -> HalfOrbit:
    """A HalfOrbit whose local time matches its half (night ~02 LT, day ~14 LT) by default."""
    t = start + (np.arange(n) * round(cadence_s * 1e9)).astype("timedelta64[ns]")
    t = t.astype("datetime64[ms]").astype("datetime64[ns]")  # files keep milliseconds
    lat = np.linspace(-40.0, 40.0, n) * (1 if half else -1)
    if lon0 is None:
        lon0 = lon_for_local_time(start, 2.0 if half else 14.0)
    lon = np.full(n, lon0)
    return HalfOrbit(
        satellite=satellite, orbit=orbit, half=half, time=t, lat=lat, lon=lon,
        alt_km=np.full(n, 507.0), mlat=lat - 8.0, ne_cm3=np.full(n, ne_cm3),
        te_k=np.linspace(1200.0, 1800.0, n),
    )


def lon_for_local_time(start: np.datetime64, local_time_h: float) -> float:
    """The longitude at which ``start`` is ``local_time_h`` mean solar time, in [-180, 180)."""
    utc_h = (start - start.astype("datetime64[D]")).astype("timedelta64[ns]").astype(float) / 3.6e12
    return float(((local_time_h - utc_h) * 15.0 + 180.0) % 360.0 - 180.0)


def tree_hash(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(directory).rglob("*")) if p.is_file()}
