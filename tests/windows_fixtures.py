"""Hand-built tracks and catalogues whose labels are known (shared by the windows tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

CADENCE_S = 1.5
T0 = pd.Timestamp("2019-11-20T00:00:00", tz="UTC")


def catalog(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (event_id, time, latitude, longitude, magnitude, kind)."""
    frame = pd.DataFrame(rows, columns=["event_id", "time", "latitude", "longitude",
                                        "magnitude", "kind"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True).dt.as_unit("ns")
    frame["depth_km"] = 10.0
    frame["source"] = np.where(frame["kind"] == "artificial", "artificial", "iscgem")
    return frame[["event_id", "time", "latitude", "longitude", "depth_km", "magnitude",
                  "source", "kind"]]


def pass_(start: pd.Timestamp, n: int, lat0: float, lon: float, half_orbit_id: int,
          half_orbit: str = "night", segment: int = 0, dlat: float = 0.01,
          kp: float = 1.0) -> pd.DataFrame:
    """One half-orbit stretch: n samples at the 1.5 s cadence moving north from lat0."""
    times = start + pd.to_timedelta(np.arange(n) * CADENCE_S, unit="s")
    return pd.DataFrame({
        "time": times.as_unit("ns"),
        "lat": lat0 + dlat * np.arange(n),
        "lon": np.full(n, float(lon)),
        "alt": 507.0,
        "mlat": lat0 + dlat * np.arange(n),
        "local_time": 2.0,
        "half_orbit": half_orbit,
        "orbit": half_orbit_id // 10,
        "half_orbit_id": np.int64(half_orbit_id),
        "segment": np.int64(segment),
        "ne_cm3": 1e5 + np.arange(n),
        "te_k": 1500.0 + np.arange(n),
        "kp": float(kp),
        "quality": np.int16(0),
    })


def track(*passes: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(passes, ignore_index=True).sort_values("time", ignore_index=True)
