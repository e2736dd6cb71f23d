"""Record-level rules shared by the raw-format readers, ``seqnetquake check`` and the tracks stage.

One definition of a fill value and of the sensor ranges, so that ``check`` reports exactly the
records that the tracks stage drops. Neither CSES nor DEMETER documents its fill values
(FORMATS.md), so the sentinel list below is a declared assumption: the values seen in
ionospheric products (-9999, -999, -99999, 9999, 99999), anything non-finite or of magnitude
>= 1e30, and, for Ne and Te only, exactly 0 (a zero density or temperature is not a measurement).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from seqnetquake.contracts import NS_PER_S
from seqnetquake.errors import InputError
from seqnetquake.sources.base import HalfOrbit

FILL_SENTINELS = np.array([-99999.0, -9999.0, -999.0, 9999.0, 99999.0])
HUGE = 1e30
NE_RANGE_CM3 = (5e2, 1e7)  # ISL and LAP instrument range (SIMULATOR-NOTES)
TE_RANGE_K = (500.0, 10000.0)
LAT_RANGE_DEG = (-90.0, 90.0)
LON_RANGE_DEG = (-180.0, 360.0)  # files may use 0..360; readers wrap to [-180, 180)

# Centred-dipole north geomagnetic pole (IGRF-13, epoch 2015): only used to fill magnetic
# longitude fields the simulator does not model; nothing downstream reads them.
DIPOLE_POLE_LAT_DEG = 80.37
DIPOLE_POLE_LON_DEG = -72.62


def fill_mask(values: np.ndarray, zero_is_fill: bool = False) -> np.ndarray:
    """True where a value is a fill value (non-finite, huge, a sentinel, or 0 for Ne/Te)."""
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(x) | (np.abs(x) >= HUGE)
    for sentinel in FILL_SENTINELS:  # 5 comparisons beat np.isin's sort at millions of rows
        bad |= x == sentinel
    if zero_is_fill:
        bad |= x == 0.0
    return bad


def wrap_lon(lon_deg: np.ndarray) -> np.ndarray:
    """Longitudes to [-180, 180); values outside [-180, 360] (fills, NaN) are left for the rules."""
    lon = np.asarray(lon_deg, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = (lon >= LON_RANGE_DEG[0]) & (lon <= LON_RANGE_DEG[1])
    return np.where(ok, (lon + 180.0) % 360.0 - 180.0, lon)


def dipole_mlon(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Centred-dipole magnetic longitude (deg), for writers that must fill a MAG_LON field."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    plat, plon = np.radians(DIPOLE_POLE_LAT_DEG), np.radians(DIPOLE_POLE_LON_DEG)
    x = np.cos(lat) * np.cos(lon - plon)
    y = np.cos(lat) * np.sin(lon - plon)
    z = np.sin(lat)
    xm = x * np.sin(plat) - z * np.cos(plat)
    return np.degrees(np.arctan2(y, xm))


def time_components(time: np.ndarray) -> tuple[np.ndarray, ...]:
    """datetime64 -> int64 (year, month, day, hour, minute, second, millisecond), truncated."""
    t = np.asarray(time).astype("datetime64[ms]")
    days = t.astype("datetime64[D]")
    months = t.astype("datetime64[M]")
    years = t.astype("datetime64[Y]")
    ms_of_day = (t - days).astype(np.int64)
    hour, rem = np.divmod(ms_of_day, 3_600_000)
    minute, rem = np.divmod(rem, 60_000)
    second, ms = np.divmod(rem, 1000)
    return (
        years.astype(np.int64) + 1970,
        (months - years).astype(np.int64) + 1,
        (days - months).astype(np.int64) + 1,
        hour, minute, second, ms,
    )


def compose_time(
    year: np.ndarray, month: np.ndarray, day: np.ndarray, hour: np.ndarray,
    minute: np.ndarray, second: np.ndarray, ms: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Calendar fields -> (datetime64[ns], valid mask); impossible dates (Feb 30) are invalid."""
    year, month, day, hour, minute, second, ms = (
        np.asarray(a, dtype=np.int64) for a in (year, month, day, hour, minute, second, ms)
    )
    valid = (
        (year >= 1990) & (year <= 2100) & (month >= 1) & (month <= 12) & (day >= 1)
        & (hour >= 0) & (hour < 24) & (minute >= 0) & (minute < 60) & (second >= 0)
        & (second < 60) & (ms >= 0) & (ms < 1000)
    )
    month_start = np.where(valid, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    first_day = month_start.astype("datetime64[D]")
    days_in_month = ((month_start + 1).astype("datetime64[D]") - first_day).astype(np.int64)
    valid &= day <= days_in_month
    ns = ((hour * 3600 + minute * 60 + second) * 1000 + ms) * 1_000_000
    time = (first_day + np.where(valid, day - 1, 0)).astype("datetime64[ns]") + np.where(
        valid, ns, 0
    ).astype("timedelta64[ns]")
    return time, valid


def file_size(path: Path) -> int:
    """The file's size in bytes; an InputError when it cannot be read or is empty."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(path, "file", f"cannot read: {exc.strerror or exc}") from exc
    if size == 0:
        raise InputError(path, "file", "empty file (0 bytes)")
    return size


def first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def audit(ho: HalfOrbit, names: dict[str, str]) -> list[tuple[str, str, int | None]]:
    """Record problems that make a file unfit as-is: ``(field, problem, first record index)``.

    ``names`` maps HalfOrbit attributes to the file's own field names, so the message names the
    field as the user sees it in the file. One entry per field; rows are 0-based record indices.
    """
    problems: list[tuple[str, str, int | None]] = []
    for attr, zero_is_fill in (("ne_cm3", True), ("te_k", True)):
        values = getattr(ho, attr)
        bad = fill_mask(values, zero_is_fill=zero_is_fill)
        if bad.any():
            row = first_row(bad)
            problems.append(
                (names[attr], f"{int(bad.sum())} fill value(s), first {float(values[row])}", row)
            )
    te = ho.te_k
    negative = ~fill_mask(te, zero_is_fill=True) & (te < 0)
    if negative.any():
        row = first_row(negative)
        problems.append((names["te_k"], f"negative temperature {float(te[row])} K", row))
    for attr, (lo, hi) in (
        ("lat", LAT_RANGE_DEG),
        ("lon", LON_RANGE_DEG),
        ("mlat", LAT_RANGE_DEG),
        ("alt_km", (-HUGE, HUGE)),
    ):
        values = np.asarray(getattr(ho, attr), dtype=np.float64)
        nan = ~np.isfinite(values)
        if nan.any():
            problems.append((names[attr], f"{int(nan.sum())} NaN coordinate(s)", first_row(nan)))
            continue
        bad = fill_mask(values) | (values < lo) | (values > hi)
        if bad.any():
            row = first_row(bad)
            problems.append(
                (names[attr], f"{int(bad.sum())} fill or out-of-range value(s), first "
                 f"{float(values[row])}", row)
            )
    step = np.diff(ho.time.astype("datetime64[ns]").view(np.int64))
    back = step <= 0
    if back.any():
        i = first_row(back)
        what = ("repeats a time stamp" if step[i] == 0
                else f"goes backwards by {-step[i] / NS_PER_S:g} s")
        problems.append((names["time"], what, i + 1))
    return problems


def name_problems(path: Path, parse_name: Callable[[Path], Any]) -> tuple[list[str], Any]:
    """The first checks every raw file gets: it exists, its name follows the convention.

    Returns the problem lines so far and the parsed name (None when the name is bad), so a
    format's ``check_file`` can go on to report content problems of the same file.
    """
    if not path.exists():
        return [str(InputError(path, "file", "not found"))], None
    try:
        return [], parse_name(path)
    except InputError as exc:
        return [str(exc)], None


def name_interval(path: str | Path, start: str, end: str) -> tuple[dt.datetime, dt.datetime]:
    """The ``YYYYMMDD_HHMMSS`` start and end of a raw file's name (both formats use them)."""
    try:
        t0 = dt.datetime.strptime(start, "%Y%m%d_%H%M%S")
        t1 = dt.datetime.strptime(end, "%Y%m%d_%H%M%S")
    except ValueError as exc:
        raise InputError(path, "name", f"bad start/end time: {exc}") from exc
    if t1 < t0:
        raise InputError(path, "name", "end time before start time")
    return t0, t1


def check_file(
    path: str | Path,
    parse_name: Callable[[Path], Any],
    load: Callable[[Path, Any, list[str]], HalfOrbit],
    field_names: dict[str, str],
) -> list[str]:
    """``check_file`` of a raw format: problems of one file, one ``PATH: FIELD: problem`` line
    each; [] if the file is fine.

    The skeleton every format shares: the name (:func:`name_problems`), then the content, then
    the record rules (:func:`audit`, fields named by ``field_names``). The per-format part is
    ``load(path, parsed name or None, lines)``: it reads the file into a HalfOrbit in the
    file's own units (fills show as written), appending any format-specific problem lines to
    ``lines`` as it goes, and raises InputError when the file cannot be read at all (the
    lines so far, then that error, are the report).
    """
    path = Path(path)
    lines, name = name_problems(path, parse_name)
    if lines and not path.exists():
        return lines
    try:
        ho = load(path, name, lines)
    except InputError as exc:
        return [*lines, str(exc)]
    for field, problem, row in audit(ho, field_names):
        lines.append(str(InputError(path, field, problem, row)))
    return lines
