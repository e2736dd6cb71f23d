"""Readers for the three earthquake-catalogue CSV layouts shipped in data/external/catalogs.

Each reader returns the same tidy frame (:data:`COLUMNS`) and rejects bad input with an
:class:`~seqnetquake.errors.InputError` naming the file, the field and the row. Rows are
numbered as lines of the file (the header is line 1), so ``sed -n Np`` shows the culprit.

Layouts (see data/external/catalogs/SOURCES.md):
- ``comcat``: USGS ComCat CSV (``time,latitude,longitude,depth,mag,...,id,...,type``).
- ``iscgem``: ISC-GEM v7 main catalogue (``eventid,time,latitude,longitude,...,depth,...,mw``).
- ``kaggle_significant``: the Kaggle "Significant Earthquakes 1965-2016" file (``Date`` as
  MM/DD/YYYY and ``Time`` as HH:MM:SS, except three rows that carry ISO timestamps in both).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from seqnetquake.errors import InputError

COLUMNS = [
    "source",
    "source_id",
    "time",
    "latitude",
    "longitude",
    "depth_km",
    "magnitude",
    "magnitude_type",
    "event_type",
    "updated",
]
MAGNITUDE_RANGE = (-1.0, 10.0)  # anything outside is a corrupt row, not an earthquake
DEPTH_RANGE_KM = (-10.0, 800.0)  # ComCat allows small negative depths (above sea level)


@dataclass(frozen=True)
class Layout:
    """How one CSV layout names the fields we need."""

    name: str
    signature: tuple[str, ...]  # columns whose presence identifies the layout
    time: tuple[str, ...]  # one column (ISO) or (date, time)
    latitude: str
    longitude: str
    depth: str
    magnitude: str
    source_id: str
    magnitude_type: str | None
    event_type: str | None
    updated: str | None


LAYOUTS = (
    Layout(
        name="comcat",
        signature=("time", "latitude", "longitude", "depth", "mag", "magType", "id", "type"),
        time=("time",),
        latitude="latitude",
        longitude="longitude",
        depth="depth",
        magnitude="mag",
        source_id="id",
        magnitude_type="magType",
        event_type="type",
        updated="updated",
    ),
    Layout(
        name="iscgem",
        signature=("eventid", "time", "latitude", "longitude", "depth", "mw"),
        time=("time",),
        latitude="latitude",
        longitude="longitude",
        depth="depth",
        magnitude="mw",
        source_id="eventid",
        magnitude_type=None,  # homogeneous Mw
        event_type=None,  # earthquakes only
        updated=None,
    ),
    Layout(
        name="kaggle_significant",
        signature=("Date", "Time", "Latitude", "Longitude", "Type", "Depth", "Magnitude", "ID"),
        time=("Date", "Time"),
        latitude="Latitude",
        longitude="Longitude",
        depth="Depth",
        magnitude="Magnitude",
        source_id="ID",
        magnitude_type="Magnitude Type",
        event_type="Type",
        updated=None,
    ),
)


def _read_header(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError(path, "file", "not found")
    if path.stat().st_size == 0:
        raise InputError(path, "file", "empty file")
    with path.open("rb") as fh:
        head = fh.read(4096)
    if b"\x00" in head:
        raise InputError(path, "file", "not a CSV file (binary content)")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, "file", "not a CSV file (not UTF-8 text)") from exc
    first_line = text.splitlines()[0] if text.splitlines() else ""
    header = next(csv.reader([first_line]), [])
    if len(header) < 2:
        raise InputError(path, "file", "not a CSV file (no comma-separated header)")
    return [h.strip() for h in header]


def detect_layout(path: Path, header: list[str]) -> Layout:
    """The layout whose signature best matches; missing columns of it are an error."""
    scores = [(sum(c in header for c in lay.signature), lay) for lay in LAYOUTS]
    best_score, best = max(scores, key=lambda s: s[0])
    if best_score < 3:
        raise InputError(
            path, "header", "not a known catalogue layout (ComCat, ISC-GEM or Kaggle significant)"
        )
    missing = [c for c in best.signature if c not in header]
    if missing:
        raise InputError(path, ",".join(missing), f"missing required column for {best.name}")
    return best


def _first_bad(
    path: Path, field: str, mask: np.ndarray, values: pd.Series | None, problem: str
) -> None:
    """Raise for the first True in mask, quoting the offending value, with its file line."""
    idx = int(np.flatnonzero(mask)[0])
    if values is not None:
        value = values.iloc[idx]
        problem += f" {value!r}" if isinstance(value, str) else f" {float(value):g}"
    raise InputError(path, field, problem, row=idx + 2)


def _parse_time(path: Path, df: pd.DataFrame, layout: Layout) -> pd.Series:
    if len(layout.time) == 1:
        raw = df[layout.time[0]].astype("string")
        parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
        field = layout.time[0]
    else:
        date_col, time_col = layout.time
        raw = df[date_col].astype("string") + " " + df[time_col].astype("string")
        parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="%m/%d/%Y %H:%M:%S")
        # Known quirk of the Kaggle file: a few rows hold ISO timestamps in both columns.
        iso = parsed.isna() & df[date_col].astype("string").str.contains("T", na=False)
        if iso.any():
            parsed[iso] = pd.to_datetime(
                df.loc[iso, date_col], utc=True, errors="coerce", format="ISO8601"
            )
        field = date_col
    bad = parsed.isna().to_numpy()
    if bad.any():
        _first_bad(path, field, bad, raw, "unparsable time")
    return parsed.astype("datetime64[ns, UTC]")


def _numeric(path: Path, df: pd.DataFrame, column: str, lo: float, hi: float, what: str):
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce")
    missing = raw.isna().to_numpy()
    if missing.any():
        _first_bad(path, column, missing, None, f"missing {what}")
    non_numeric = values.isna().to_numpy()
    if non_numeric.any():
        _first_bad(path, column, non_numeric, raw, f"non-numeric {what}")
    out_of_range = ((values < lo) | (values > hi)).to_numpy()
    if out_of_range.any():
        _first_bad(path, column, out_of_range, values, f"{what} outside [{lo:g}, {hi:g}]:")
    return values.astype("float64")


def read_catalog_csv(path: str | Path) -> pd.DataFrame:
    """Read one catalogue CSV of any supported layout into the tidy :data:`COLUMNS` frame.

    All event types are kept (``event_type``); the catalogue stage keeps earthquakes only.
    """
    path = Path(path)
    header = _read_header(path)
    layout = detect_layout(path, header)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=True, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(path, "file", f"not a valid CSV file: {str(exc).splitlines()[0]}") from exc
    if df.empty:
        raise InputError(path, "file", "empty file (header only)")
    df.columns = [c.strip() for c in df.columns]
    out = pd.DataFrame(
        {
            "source": layout.name,
            "source_id": df[layout.source_id].astype("string"),
            "time": _parse_time(path, df, layout),
            "latitude": _numeric(path, df, layout.latitude, -90, 90, "latitude"),
            "longitude": _numeric(path, df, layout.longitude, -180, 180, "longitude"),
            "depth_km": _numeric(path, df, layout.depth, *DEPTH_RANGE_KM, "depth"),
            "magnitude": _numeric(path, df, layout.magnitude, *MAGNITUDE_RANGE, "magnitude"),
        }
    )
    missing_id = out["source_id"].isna().to_numpy()
    if missing_id.any():
        _first_bad(path, layout.source_id, missing_id, None, "missing event id")
    out["magnitude_type"] = (
        df[layout.magnitude_type].fillna("").str.lower() if layout.magnitude_type else "mw"
    )
    out["event_type"] = (
        df[layout.event_type].fillna("").str.strip().str.lower()
        if layout.event_type
        else "earthquake"
    )
    out["updated"] = (
        pd.to_datetime(df[layout.updated], utc=True, errors="coerce", format="ISO8601")
        if layout.updated
        else pd.NaT
    )
    out["source_id"] = out["source_id"].astype(str)
    out["magnitude_type"] = out["magnitude_type"].astype(str)
    out["event_type"] = out["event_type"].astype(str)
    return out[COLUMNS]


def check_file(path: str | Path) -> list[str]:
    """Problems with one catalogue CSV, as ``PATH: FIELD: problem`` lines (empty when fine)."""
    try:
        read_catalog_csv(path)
    except InputError as exc:
        return [str(exc)]
    return []
