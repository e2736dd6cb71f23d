"""The time-shuffled null's event shifts: drawn by the catalogue stage, undone by the simulator.

Benchmark control (docs/benchmark.md): the labels see real epicentres at wrong times. An
event's candidate shifts depend only on its id and the params, and the chosen candidate k is
kept in its id (``<id>~shuffled<k>``), so the simulator can undo the move
(``simulate.unshuffle``) and keep the injected signal at the real times. Both stages import
this module rather than each other.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from seqnetquake.config import SATELLITES, CatalogConfig, MissionConfig
from seqnetquake.contracts import NS_PER_DAY
from seqnetquake.geo import mission_bounds

SHUFFLE_TAG = "~shuffled"


def null_shifts_ns(event_id: pd.Series, ccfg: CatalogConfig, satellite: str) -> np.ndarray:
    """(n, max_tries) candidate shifts (ns), +-U(min_shift_days, max_shift_days), keyed by id."""
    ncfg, tries = ccfg.shuffle, ccfg.artificial.max_tries
    out = np.empty((len(event_id), tries), dtype=np.int64)
    for i, eid in enumerate(event_id.astype(str)):
        rng = np.random.default_rng(
            [ncfg.seed, SATELLITES.index(satellite), zlib.crc32(eid.encode())])
        days = rng.uniform(ncfg.min_shift_days, ncfg.max_shift_days, tries)
        out[i] = np.round(np.where(rng.random(tries) < 0.5, days, -days) * NS_PER_DAY)
    return out


def cyclic_shift_ns(t_ns: np.ndarray, shift_ns: np.ndarray, mission: MissionConfig) -> np.ndarray:
    """``t + shift`` wrapped into the mission period (its inverse is ``-shift``)."""
    start, end = mission_bounds(mission)
    return start.value + np.mod(t_ns - start.value + shift_ns, end.value - start.value)
