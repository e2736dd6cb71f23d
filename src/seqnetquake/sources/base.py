"""What every satellite reader returns and every writer takes, and what a raw format offers.

:class:`HalfOrbit` is one half-orbit of samples: the same record serves real files and the
simulator's dumps, so downstream code cannot tell them apart. Arrays are 1-D and of equal
length; units are in the names. :class:`SourceFormat` is what the tracks stage, the simulator
and ``seqnetquake check`` need of a raw format; each format module (``sources.cses``,
``sources.demeter``) provides it, and ``sources.formats`` maps satellites to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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


class SourceFormat(Protocol):
    """One raw satellite format: a module of this package (``sources.cses``, ``sources.demeter``).

    Module constants and functions satisfy the protocol: ``FORMATS`` (``sources.formats``)
    holds the modules themselves, so a format is written down once, in its own module.
    """

    SATELLITE: str  # "cses" | "demeter"
    SUFFIX: str  # the raw files' suffix as the naming convention spells it (".h5", ".DAT")
    NAME_PATTERN: str  # the file-name convention, for messages
    SURVEY_CADENCE_S: float  # the instrument's survey cadence (the tracks stage's gap rule)
    FIELD_NAMES: dict[str, str]  # HalfOrbit attribute -> the file's own field name (messages)

    def read_half_orbit(self, path: str | Path) -> HalfOrbit:
        """One raw file as a HalfOrbit; InputError when the file is unfit. Never writes."""
        ...

    def write_half_orbit(self, directory: str | Path, ho: HalfOrbit) -> Path:
        """Write ``ho`` as one raw file named by the convention, atomically; its path."""
        ...

    def check_file(self, path: str | Path) -> list[str]:
        """Problems with one file, one ``PATH: FIELD: problem`` line each; [] if fine."""
        ...
