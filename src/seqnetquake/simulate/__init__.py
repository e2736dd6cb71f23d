"""The virtual satellite: raw CSES / DEMETER dumps over the real catalogue, Kp and orbits.

Modules, one concept each: ``orbit`` (SGP4 tracks, half-orbits, magnetic latitude),
``ionosphere`` (PyIRI Ne, parametric Te), ``storms`` (Kp-driven changes), ``precursors``
(injected pre-earthquake perturbations), ``instrument`` (cadence, gaps, noise, bad records),
``satellite`` (one day of one satellite). The physics and every parameter: docs/simulator.md.

``run_stage`` is the ``seqnetquake simulate`` DVC stage: it writes one raw file per half-orbit
through the real-format writers (``sources.formats``: ``sources.cses`` / ``sources.demeter``), so
that the tracks stage reads simulated and real files alike, plus the injection truth beside them
(``truth.parquet`` per perturbed sample, ``truth_events.parquet`` per shock). Only the benchmark
(``seqnetquake.benchmark``) reads the truth. The time-shuffled null's shifts come from
``timeshuffle``, shared with the catalogue stage (no stage imports another).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from seqnetquake.config import Config
from seqnetquake.contracts import (
    CATALOG_EVENT_COLUMNS,
    KP_COLUMNS,
    TRUTH_COLUMNS,
    TRUTH_EVENTS_FILE,
    TRUTH_FILE,
)
from seqnetquake.errors import InputError
from seqnetquake.fileio import atomic_path
from seqnetquake.geo import to_ns
from seqnetquake.simulate import ionosphere
from seqnetquake.simulate.satellite import VirtualSatellite
from seqnetquake.sources.formats import format_for
from seqnetquake.timeshuffle import SHUFFLE_TAG, cyclic_shift_ns, null_shifts_ns
from seqnetquake.tracking import log_counts, stage_run

__all__ = ["run_stage", "VirtualSatellite", "read_inputs"]


def read_inputs(catalog_path: Path, kp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The catalogue's mainshocks (aftershocks and artificial events carry no precursor) and Kp."""
    catalog = pd.read_parquet(catalog_path)
    for column in CATALOG_EVENT_COLUMNS:
        if column not in catalog.columns:
            raise InputError(catalog_path, column, "missing column")
    kp = pd.read_parquet(kp_path)
    for column in KP_COLUMNS:
        if column not in kp.columns:
            raise InputError(kp_path, column, "missing column")
    return catalog[catalog["kind"] == "mainshock"].reset_index(drop=True), kp


def unshuffle(mainshocks: pd.DataFrame, cfg: Config, satellite: str) -> pd.DataFrame:
    """Undo ``catalog.time_shuffled``: the time-shuffled null injects at the real times."""
    parts = mainshocks["event_id"].astype(str).str.rsplit(SHUFFLE_TAG, n=1, expand=True)
    if parts.shape[1] != 2 or parts[1].isna().any():
        raise InputError("catalog", "event_id", f"catalog.shuffle is on but an id lacks "
                         f"'{SHUFFLE_TAG}<k>' (re-run the catalog stage)")
    k = parts[1].astype(int).to_numpy()
    shifts = null_shifts_ns(parts[0], cfg.catalog, satellite)
    shift = shifts[np.arange(len(k)), k]
    out = mainshocks.copy()
    out["event_id"] = parts[0].to_numpy()
    out["time"] = pd.to_datetime(
        cyclic_shift_ns(to_ns(mainshocks["time"]), -shift, cfg.missions[satellite]), utc=True
    ).as_unit("ns")
    return out


def run_stage(
    cfg: Config,
    satellite: str,
    catalog_path: Path,
    kp_path: Path,
    cache_dir: Path,
    out_dir: Path,
) -> None:
    """Simulate ``cfg.simulate.<satellite>``'s period into ``out_dir`` (atomically replaced)."""
    period = getattr(cfg.simulate, satellite)
    mission = cfg.missions[satellite]
    if period.start < mission.start or period.end > mission.end or period.end < period.start:
        raise InputError(
            "params.yaml",
            f"simulate.{satellite}",
            f"period {period.start}..{period.end} not inside the mission "
            f"{mission.start}..{mission.end}",
        )
    writer = format_for(satellite).write_half_orbit
    mainshocks, kp = read_inputs(Path(catalog_path), Path(kp_path))
    if cfg.catalog.shuffle.mode == "time_shuffled":  # the null moves labels, not the signal
        mainshocks = unshuffle(mainshocks, cfg, satellite)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)

    params = {"satellite": satellite, "simulate": cfg.simulate.model_dump(mode="json")}
    with stage_run(
        cfg,
        "simulate",
        params=params,
        tags={"satellite": satellite},
        run_name=f"simulate-{satellite}",
    ):
        started = time.perf_counter()
        sat = VirtualSatellite(cfg, satellite, mainshocks, kp, cache_dir)
        for year, month in tqdm(
            ionosphere.months_needed(period.start, period.end),
            desc=f"PyIRI months ({satellite})",
            unit="month",
        ):
            sat.month_grid(year, month)
        totals: Counter[str] = Counter()
        truth_parts = []
        with atomic_path(out_dir) as tmp:
            tmp.mkdir()
            for day in tqdm(sat.days(), desc=f"simulate {satellite}", unit="day"):
                result = sat.simulate_day(day)
                for half_orbit in result.half_orbits:
                    writer(tmp, half_orbit)
                truth_parts.append(result.truth)
                totals.update(result.counts)
            parts = [t for t in truth_parts if len(t)]
            truth = (
                pd.concat(parts, ignore_index=True)
                if parts
                else pd.DataFrame(columns=list(TRUTH_COLUMNS))
            )
            truth.to_parquet(tmp / TRUTH_FILE, index=False)
            sat.events.to_parquet(tmp / TRUTH_EVENTS_FILE, index=False)
        seconds = time.perf_counter() - started
        totals.update(
            {
                "files": totals["half_orbits"],
                "days": len(sat.days()),
                "events_in_reach": len(sat.events),
                "injected_events": int(sat.events["injected"].sum()),
                "events_seen": int(truth["event_id"].nunique()),
            }
        )
        log_counts(
            {**totals, "seconds": seconds, "seconds_per_day": seconds / max(1, len(sat.days()))}
        )
