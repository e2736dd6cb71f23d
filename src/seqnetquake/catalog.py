"""The catalogue stage: real earthquakes per satellite period, declustered, with artificial events.

Rules (DESIGN §3, interpretations marked):
- Merge: every CSV in the catalogue folder, earthquakes only, origin time in the mission period.
- Cross-source duplicates: one event reported by two catalogues. Sources are taken in
  ``source_priority`` order; an event of a lower-priority source is a duplicate when a kept
  event lies within ``dedupe_seconds`` and ``dedupe_km``. Within one source, rows with the same
  id (the two ComCat exports overlap) keep the most recently updated one.
- Magnitude: the preferred source's magnitude >= ``min_magnitude`` (after dedupe, so a
  lower-priority duplicate cannot sneak an event over the threshold).
- Declustering (``catalog.declustering.method``); dependent events stay in the table as
  ``kind = aftershock`` (foreshocks included), so the labeller can drop data only they label:
  - ``paper`` (literal reading of the paper): sorted by time, an event is an aftershock when
    any earlier event lies inside the 2 x 2 degree box centred on it within the 15 days before
    it. Magnitude plays no part and the rule chains: B after A, C after B, ... each become
    aftershocks even of a smaller event (an M7.5 after an M6.1 two days earlier is removed).
  - ``gardner_knopoff`` (Gardner & Knopoff 1974; the default, README "Declustering"): events
    are taken largest first (earlier first among equal magnitudes); each one not yet in a
    cluster opens one and takes every unassigned event within L(M) km and from
    ``foreshock_time_fraction`` x T(M) days before to T(M) days after it, with the GK table
    as fitted by van Stiphout et al. (2012, CORSSA): L = 10^(0.1238 M + 0.983) km,
    T = 10^(0.032 M + 2.7389) days for M >= 6.5, else 10^(0.5409 M - 0.547) days. This is the
    "type 1" window method of the GEM Hazard Modeller's Toolkit and seismostats (distances on
    the sphere). The largest event of a cluster is its mainshock, so no event is ever made
    dependent on a smaller one. Implemented here (40 lines, numpy): ``seismostats`` needs a
    cartopy/geopandas stack at import and ``bruces`` projects to UTM (wrong across zones for a
    global catalogue), uses numba and looks at aftershocks only.
- Artificial non-seismic events: as many as mainshocks, random time in the period; uniform
  mode draws lat/lon uniformly within the instrument's latitude coverage, location-matched
  mode (DESIGN §7) reuses each mainshock's epicentre at another time. A candidate is rejected
  when any real event lies within ``exclusion_deg`` in latitude *and* longitude and within
  ``exclusion_days`` (the constraint per pair). Magnitude and depth (needed for the
  Dobrovolsky radius) are drawn from the mainshocks. Seeded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seqnetquake import tracking
from seqnetquake.config import SATELLITES, ArtificialConfig, CatalogConfig, Config, MissionConfig
from seqnetquake.contracts import (
    CATALOG_COLUMNS,
    EVENT_KINDS,
    NS_PER_DAY,
    NS_PER_S,
    artificial_id_prefix,
)
from seqnetquake.errors import InputError
from seqnetquake.fileio import write_json, write_parquet
from seqnetquake.geo import (
    dobrovolsky_radius_km,
    haversine_km,
    lon_diff_deg,
    mission_bounds,
    to_ns,
)
from seqnetquake.sources.catalog_sources import read_catalog_csv
from seqnetquake.timeshuffle import SHUFFLE_TAG, cyclic_shift_ns, null_shifts_ns

DECLUSTERING_METHODS = ("paper", "gardner_knopoff")


def read_sources(catalog_dir: Path) -> pd.DataFrame:
    """Every catalogue CSV in the folder, in one frame (bad files raise InputError)."""
    files = sorted(Path(catalog_dir).glob("*.csv"))
    if not files:
        raise InputError(catalog_dir, "file", "no catalogue CSV files found")
    return pd.concat([read_catalog_csv(f) for f in files], ignore_index=True)


def dedupe(events: pd.DataFrame, cfg: CatalogConfig) -> pd.DataFrame:
    """Drop same-id repeats within a source, then cross-source duplicates by priority."""
    events = events.sort_values(["source", "source_id", "updated"], na_position="first")
    events = events.drop_duplicates(["source", "source_id"], keep="last")
    unknown = sorted(set(events["source"]) - set(cfg.source_priority))
    order = list(cfg.source_priority) + unknown
    window_ns = int(cfg.dedupe_seconds * NS_PER_S)
    kept: list[pd.DataFrame] = []
    kept_t = np.empty(0, dtype=np.int64)
    kept_lat = kept_lon = np.empty(0)
    for source in order:
        batch = events[events["source"] == source]
        if batch.empty:
            continue
        t = to_ns(batch["time"])
        duplicate = np.zeros(len(batch), dtype=bool)
        if len(kept_t):
            lo = np.searchsorted(kept_t, t - window_ns, side="left")
            hi = np.searchsorted(kept_t, t + window_ns, side="right")
            lat = batch["latitude"].to_numpy()
            lon = batch["longitude"].to_numpy()
            for i in np.flatnonzero(hi > lo):  # only the few rows with a near-simultaneous event
                d = haversine_km(lat[i], lon[i], kept_lat[lo[i] : hi[i]], kept_lon[lo[i] : hi[i]])
                duplicate[i] = bool((d <= cfg.dedupe_km).any())
        batch = batch[~duplicate]
        kept.append(batch)
        merged = pd.concat(kept, ignore_index=True).sort_values("time", kind="stable")
        kept_t = to_ns(merged["time"])
        kept_lat = merged["latitude"].to_numpy()
        kept_lon = merged["longitude"].to_numpy()
    return pd.concat(kept, ignore_index=True).sort_values("time", kind="stable")


def _sorted_ns(time: np.ndarray) -> np.ndarray:
    t = to_ns(time)
    if np.any(np.diff(t) < 0):
        raise ValueError("decluster needs events sorted by time")
    return t


def paper_parents(
    time: np.ndarray, lat: np.ndarray, lon: np.ndarray, box_deg: float, days: float,
    magnitude: np.ndarray | None = None,
) -> np.ndarray:
    """The paper's rule: for each event the row of the earlier event that makes it an
    aftershock (the largest one in its box and window, else the latest), -1 for mainshocks.
    Inputs sorted by time (datetime64 or int ns)."""
    t = _sorted_ns(time)
    mag = np.zeros(len(t)) if magnitude is None else np.asarray(magnitude, dtype=float)
    half = box_deg / 2.0
    first = np.searchsorted(t, t - int(days * NS_PER_DAY), side="left")
    parent = np.full(len(t), -1, dtype=np.int64)
    for i in np.flatnonzero(first < np.arange(len(t))):
        j = np.arange(first[i], i)  # earlier events within the time window (ties: earlier rows)
        inside = j[(np.abs(lat[j] - lat[i]) <= half) & (lon_diff_deg(lon[j], lon[i]) <= half)]
        if len(inside):
            parent[i] = inside[::-1][np.argmax(mag[inside][::-1])]
    return parent


def decluster(
    time: np.ndarray, lat: np.ndarray, lon: np.ndarray, box_deg: float, days: float
) -> np.ndarray:
    """True where an event is an aftershock by the paper's rule (:func:`paper_parents`)."""
    return paper_parents(time, lat, lon, box_deg, days) >= 0


def gardner_knopoff_windows(magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(km, days) of the Gardner & Knopoff (1974) windows, van Stiphout et al. (2012) fit."""
    m = np.asarray(magnitude, dtype=float)
    km = 10.0 ** (0.1238 * m + 0.983)
    days = np.where(m >= 6.5, 10.0 ** (0.032 * m + 2.7389), 10.0 ** (0.5409 * m - 0.547))
    return km, days


def gardner_knopoff_parents(
    time: np.ndarray, lat: np.ndarray, lon: np.ndarray, magnitude: np.ndarray,
    foreshock_time_fraction: float = 1.0,
) -> np.ndarray:
    """Gardner-Knopoff clusters (module docstring): for each event the row of its cluster's
    mainshock, -1 for mainshocks and independent events. Inputs sorted by time."""
    t = _sorted_ns(time)
    mag = np.asarray(magnitude, dtype=float)
    km, days = gardner_knopoff_windows(mag)
    after_ns = (days * NS_PER_DAY).astype(np.int64)
    before_ns = (foreshock_time_fraction * days * NS_PER_DAY).astype(np.int64)
    parent = np.full(len(t), -1, dtype=np.int64)
    assigned = np.zeros(len(t), dtype=bool)
    for i in np.lexsort((t, -mag)):  # largest first, earlier first among equals
        if assigned[i]:
            continue
        assigned[i] = True
        lo = np.searchsorted(t, t[i] - before_ns[i], side="left")
        hi = np.searchsorted(t, t[i] + after_ns[i], side="right")
        j = np.arange(lo, hi)
        j = j[~assigned[j]]
        j = j[haversine_km(lat[i], lon[i], lat[j], lon[j]) <= km[i]]
        parent[j] = i
        assigned[j] = True
    return parent


def declustering_parents(events: pd.DataFrame, cfg: CatalogConfig, method: str) -> np.ndarray:
    """Parent rows (-1: mainshock) of time-sorted ``events`` by one method."""
    args = (events["time"].to_numpy(), events["latitude"].to_numpy(),
            events["longitude"].to_numpy())
    if method == "paper":
        return paper_parents(*args, cfg.aftershock_box_deg, cfg.aftershock_days,
                             events["magnitude"].to_numpy())
    if method == "gardner_knopoff":
        return gardner_knopoff_parents(*args, events["magnitude"].to_numpy(),
                                       cfg.declustering.foreshock_time_fraction)
    raise ValueError(f"unknown declustering method {method!r}")


def declustering_report(events: pd.DataFrame, parent: np.ndarray, n_largest: int = 10) -> dict:
    """Counts of one method, and the largest events it removes with what removed them."""
    mag = events["magnitude"].to_numpy()
    dependent = parent >= 0
    smaller_parent = dependent & (mag > mag[np.maximum(parent, 0)])
    ids = events["event_id"].to_numpy().astype(str)
    removed = np.flatnonzero(dependent)
    removed = removed[np.lexsort((to_ns(events["time"])[removed], -mag[removed]))][:n_largest]
    times = events["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()
    return {
        "mainshock": int((~dependent).sum()),
        "dependent": int(dependent.sum()),
        "dependent_m6": int((dependent & (mag >= 6)).sum()),
        "dependent_m7": int((dependent & (mag >= 7)).sum()),
        "dependent_on_smaller": int(smaller_parent.sum()),
        "dependent_on_smaller_m7": int((smaller_parent & (mag >= 7)).sum()),
        "largest_removed": [
            {"event_id": ids[k], "time": times[k], "magnitude": float(mag[k]),
             "removed_by": ids[parent[k]], "removed_by_magnitude": float(mag[parent[k]])}
            for k in removed
        ],
    }


def _conflicts(
    t_ns: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    real_t: np.ndarray,
    real_lat: np.ndarray,
    real_lon: np.ndarray,
    acfg: ArtificialConfig,
) -> np.ndarray:
    """True where a candidate artificial event is too close to any real event (per pair)."""
    window = int(acfg.exclusion_days * NS_PER_DAY)
    lo = np.searchsorted(real_t, t_ns - window, side="left")
    hi = np.searchsorted(real_t, t_ns + window, side="right")
    bad = np.zeros(len(t_ns), dtype=bool)
    for i in np.flatnonzero(hi > lo):
        s = slice(lo[i], hi[i])
        close = (np.abs(real_lat[s] - lat[i]) <= acfg.exclusion_deg) & (
            lon_diff_deg(real_lon[s], lon[i]) <= acfg.exclusion_deg
        )
        bad[i] = bool(close.any())
    return bad


def artificial_events(
    real: pd.DataFrame,
    mission: MissionConfig,
    acfg: ArtificialConfig,
    rng: np.random.Generator,
    prefix: str,
) -> tuple[pd.DataFrame, int]:
    """Artificial non-seismic events, as many as mainshocks; returns (events, shortfall)."""
    start, end = mission_bounds(mission)
    t0, t1 = start.value, end.value
    real = real.sort_values("time", kind="stable")
    real_t = to_ns(real["time"])
    real_lat, real_lon = real["latitude"].to_numpy(), real["longitude"].to_numpy()
    mains = real[real["kind"] == "mainshock"].reset_index(drop=True)
    n = len(mains)
    # Accepted events as (time ns, lat, lon, index of the mainshock lending magnitude/depth).
    t_ok, lat_ok, lon_ok, donor = (
        np.empty(0, np.int64),
        np.empty(0),
        np.empty(0),
        np.empty(0, np.int64),
    )
    if acfg.mode == "uniform":
        for _ in range(acfg.max_tries):
            need = n - len(t_ok)
            if need <= 0:
                break
            m = max(2 * need, 16)
            t = rng.integers(t0, t1, size=m)
            lat = rng.uniform(-mission.lat_coverage_deg, mission.lat_coverage_deg, size=m)
            lon = rng.uniform(-180.0, 180.0, size=m)
            take = np.flatnonzero(~_conflicts(t, lat, lon, real_t, real_lat, real_lon, acfg))
            take = take[:need]
            t_ok = np.concatenate([t_ok, t[take]])
            lat_ok = np.concatenate([lat_ok, lat[take]])
            lon_ok = np.concatenate([lon_ok, lon[take]])
            donor = np.concatenate([donor, rng.integers(0, n, size=len(take))])
    else:  # location_matched: the mainshock's epicentre at a quiet time
        lat, lon = mains["latitude"].to_numpy(), mains["longitude"].to_numpy()
        t_best = np.full(n, -1, dtype=np.int64)
        pending = np.arange(n)
        for _ in range(acfg.max_tries):
            if not len(pending):
                break
            t = rng.integers(t0, t1, size=len(pending))
            ok = ~_conflicts(t, lat[pending], lon[pending], real_t, real_lat, real_lon, acfg)
            t_best[pending[ok]] = t[ok]
            pending = pending[~ok]
        donor = np.flatnonzero(t_best >= 0)
        t_ok, lat_ok, lon_ok = t_best[donor], lat[donor], lon[donor]
    order = np.argsort(t_ok, kind="stable")
    art = pd.DataFrame(
        {
            "time": pd.to_datetime(t_ok[order], utc=True).as_unit("ns"),
            "latitude": lat_ok[order],
            "longitude": lon_ok[order],
            "depth_km": mains["depth_km"].to_numpy()[donor[order]],
            "magnitude": mains["magnitude"].to_numpy()[donor[order]],
        }
    )
    art.insert(0, "event_id", [f"{prefix}{i:05d}" for i in range(len(art))])
    art["source"] = "artificial"
    art["kind"] = "artificial"
    return art[list(CATALOG_COLUMNS)], n - len(art)


# --------------------------------------------------------------------------- time-shuffled null
# Benchmark control (docs/benchmark.md): the labels see real epicentres at wrong times. The
# shifts (keyed by id, so the simulator can undo them) are in ``timeshuffle``.


def _window_overlaps(t_ns: np.ndarray, idx: np.ndarray, real_t: np.ndarray, lat: np.ndarray,
                     lon: np.ndarray, radius_km: np.ndarray, window_ns: int) -> np.ndarray:
    """True where event ``idx`` moved to ``t_ns`` would share label windows with a real event:
    within ``window_ns`` (the ``exclusion_days`` before a shock) and Dobrovolsky disks that
    touch. ``real_t`` sorted."""
    lo = np.searchsorted(real_t, t_ns - window_ns, side="left")
    hi = np.searchsorted(real_t, t_ns + window_ns, side="right")
    bad = np.zeros(len(t_ns), dtype=bool)
    for i in np.flatnonzero(hi > lo):
        j = np.arange(lo[i], hi[i])
        d = haversine_km(lat[j], lon[j], lat[idx[i]], lon[idx[i]])
        bad[i] = bool((d < radius_km[j] + radius_km[idx[i]]).any())
    return bad


def time_shuffled(
    real: pd.DataFrame, mission: MissionConfig, ccfg: CatalogConfig, satellite: str
) -> tuple[pd.DataFrame, int]:
    """Real events moved >= min_shift_days, their label windows clear of every real event's.

    Candidates are tried in order (``artificial.max_tries``); an event with none left is
    dropped (count returned). Moved events are renamed ``<id>~shuffled<k>``.
    """
    real = real.sort_values("time", kind="stable").reset_index(drop=True)
    real_t = to_ns(real["time"])
    lat, lon = real["latitude"].to_numpy(), real["longitude"].to_numpy()
    radius = dobrovolsky_radius_km(real["magnitude"].to_numpy(dtype=float))
    tries = ccfg.artificial.max_tries
    shifts = null_shifts_ns(real["event_id"], ccfg, satellite)
    chosen = np.full(len(real), -1)
    t_new = np.zeros(len(real), dtype=np.int64)
    pending = np.arange(len(real))
    for k in range(tries):
        if not len(pending):
            break
        t = cyclic_shift_ns(real_t[pending], shifts[pending, k], mission)
        ok = np.abs(t - real_t[pending]) >= ccfg.shuffle.min_shift_days * NS_PER_DAY
        ok &= ~_window_overlaps(t, pending, real_t, lat, lon, radius,
                                int(ccfg.artificial.exclusion_days * NS_PER_DAY))
        chosen[pending[ok]], t_new[pending[ok]] = k, t[ok]
        pending = pending[~ok]
    keep = chosen >= 0
    moved = real.loc[keep].copy()
    moved["time"] = pd.to_datetime(t_new[keep], utc=True).as_unit("ns")
    moved["event_id"] = moved["event_id"] + SHUFFLE_TAG + chosen[keep].astype(str)
    return moved, int((~keep).sum())


def build_catalog(
    merged: pd.DataFrame, cfg: Config, satellite: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One satellite's catalogue from the deduplicated merge of all sources."""
    mission = cfg.missions[satellite]
    ccfg = cfg.catalog
    start, end = mission_bounds(mission)
    in_period = (merged["time"] >= start) & (merged["time"] < end)
    quakes = merged[in_period & (merged["event_type"] == "earthquake")]
    quakes = quakes[quakes["magnitude"] >= ccfg.min_magnitude]
    quakes = quakes.sort_values(["time", "source_id"], kind="stable").reset_index(drop=True)
    quakes = quakes.assign(event_id=quakes["source"] + ":" + quakes["source_id"])
    parents = {m: declustering_parents(quakes, ccfg, m) for m in DECLUSTERING_METHODS}
    after = parents[ccfg.declustering.method] >= 0
    real = pd.DataFrame(
        {
            "event_id": quakes["event_id"],
            "time": quakes["time"].astype("datetime64[ns, UTC]"),
            "latitude": quakes["latitude"],
            "longitude": quakes["longitude"],
            "depth_km": quakes["depth_km"],
            "magnitude": quakes["magnitude"],
            "source": quakes["source"],
            "kind": np.where(after, "aftershock", "mainshock"),
        }
    )
    # One stream per satellite, so adding a mission never changes another's events.
    rng = np.random.default_rng([ccfg.artificial.seed, SATELLITES.index(satellite)])
    art, shortfall = artificial_events(real, mission, ccfg.artificial, rng,
                                         artificial_id_prefix(satellite))
    null_dropped = None
    if ccfg.shuffle.mode == "time_shuffled":  # benchmark control, after the artificial draw
        real, null_dropped = time_shuffled(real, mission, ccfg, satellite)
    table = pd.concat([real, art], ignore_index=True).sort_values("time", kind="stable")
    table = table.reset_index(drop=True)
    counts = {kind: int((table["kind"] == kind).sum()) for kind in EVENT_KINDS}
    counts["artificial_shortfall"] = int(shortfall)
    counts["real_total"] = int(len(real))
    counts["declustering"] = {"method": ccfg.declustering.method, **{
        m: declustering_report(quakes, parent) for m, parent in parents.items()}}
    if null_dropped is not None:
        counts["null_dropped"] = null_dropped
    return table, counts


def run_stage(cfg: Config, catalog_dir: Path, out_dir: Path, metrics_path: Path) -> None:
    """Write ``catalog_<satellite>.parquet`` per satellite and the counts (``metrics_path``)."""
    merged = dedupe(read_sources(catalog_dir), cfg.catalog)
    tables, metrics = {}, {}
    for satellite in SATELLITES:
        tables[satellite], metrics[satellite] = build_catalog(merged, cfg, satellite)
        c = metrics[satellite]
        print(
            f"catalog {satellite}: {c['mainshock']} mainshocks, {c['aftershock']} aftershocks, "
            f"{c['artificial']} artificial (M >= {cfg.catalog.min_magnitude}, "
            f"{cfg.catalog.declustering.method})"
        )
        for method in DECLUSTERING_METHODS:
            r = c["declustering"][method]
            print(f"  {method}: {r['dependent']} dependent, {r['dependent_m7']} of M >= 7 "
                  f"({r['dependent_on_smaller_m7']} on a smaller event)")
    with tracking.stage_run(
        cfg,
        "catalog",
        params={
            "catalog": cfg.catalog.model_dump(),
            "missions": {s: m.model_dump() for s, m in cfg.missions.items()},
        },
    ):
        for satellite, table in tables.items():
            write_parquet(table, Path(out_dir) / f"catalog_{satellite}.parquet")
        write_json(metrics, metrics_path)
        tracking.log_counts({sat: {k: v for k, v in flat.items() if isinstance(v, int | float)}
                             for sat, flat in ((sat, tracking.flatten(m))
                                               for sat, m in metrics.items())})
