"""What every satellite reader returns and every writer takes: one half-orbit of samples.

The same record serves real files and the simulator's dumps, so downstream code cannot tell
them apart. Arrays are 1-D and of equal length; units are in the names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class HalfOrbit:
    """One half-orbit (one CSES file; one DEMETER orbit half) as read from a raw file."""

    satellite: str  # "cses" | "demeter"
    orbit: int
    half: int  # 0 = day side, 1 = night side (the CSES file-name digit / DEMETER orbit type)
    time: np.ndarray  # datetime64[ns], UTC
    lat: np.ndarray  # geographic latitude, deg
    lon: np.ndarray  # geographic longitude, deg in [-180, 180)
    alt_km: np.ndarray
    mlat: np.ndarray  # magnetic latitude, deg
    ne_cm3: np.ndarray  # electron density, cm^-3 (CSES files store m^-3)
    te_k: np.ndarray  # electron temperature, K
    source_path: str = ""

    @property
    def half_orbit_id(self) -> int:
        """orbit * 10 + half: the CSES file-name orbit field (e.g. 174201)."""
        return self.orbit * 10 + self.half

    def __len__(self) -> int:
        return len(self.time)
