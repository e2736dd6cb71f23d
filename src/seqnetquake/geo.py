"""Geometry and time helpers shared by the catalogue, the simulator, the labeller and validation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from seqnetquake.config import MissionConfig

EARTH_RADIUS_KM = 6371.0  # mean radius, for great-circle distances


def mission_bounds(mission: MissionConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A mission's period as half-open [start, end + 1 day) in UTC: ``end`` in params is
    inclusive. The one reading of ``missions.<satellite>`` (catalogue, Kp, validation)."""
    start = pd.Timestamp(mission.start, tz="UTC")
    end = pd.Timestamp(mission.end + dt.timedelta(days=1), tz="UTC")
    return start, end


def to_ns(values) -> np.ndarray:
    """UTC epoch nanoseconds of datetimes (tz-aware or naive UTC; any pandas unit)."""
    return pd.DatetimeIndex(values).as_unit("ns").asi8


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance on a sphere of :data:`EARTH_RADIUS_KM` (inputs in degrees)."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(a, float)) for a in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2
    a = a + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def lon_diff_deg(lon1, lon2) -> np.ndarray:
    """|lon1 - lon2| across the antimeridian, in [0, 180]."""
    d = np.abs(np.asarray(lon1, dtype=float) - np.asarray(lon2, dtype=float)) % 360.0
    return np.minimum(d, 360.0 - d)


def dobrovolsky_radius_km(magnitude: np.ndarray | float) -> np.ndarray:
    """Earthquake preparation-zone radius R = 10^(0.43 M) km (Dobrovolsky et al. 1979)."""
    return 10.0 ** (0.43 * np.asarray(magnitude, dtype=np.float64))
