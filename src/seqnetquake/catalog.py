"""The catalogue stage: real earthquakes per satellite period, declustered, with artificial events.

Rules (DESIGN §3, interpretations marked):
- Merge: every CSV in the catalogue folder, earthquakes only, origin time in the mission period.
- Cross-source duplicates: one event reported by two catalogues. Sources are taken in
  ``source_priority`` order; an event of a lower-priority source is a duplicate when a kept
  event lies within ``dedupe_seconds`` and ``dedupe_km``. Within one source, rows with the same
  id (the two ComCat exports overlap) keep the most recently updated one.
- Magnitude: the preferred source's magnitude >= ``min_magnitude`` (after dedupe, so a
  lower-priority duplicate cannot sneak an event over the threshold).
- Declustering (interpretation: literal reading of the paper): sorted by time, an event is an
  aftershock when any earlier event lies inside the 2 x 2 degree box centred on it within the
  15 days before it. Aftershocks stay in the table, marked, so the labeller can drop data that
  only they would label.
- Artificial non-seismic events: as many as mainshocks, random time in the period; uniform
  mode draws lat/lon uniformly within the instrument's latitude coverage, location-matched
  mode (DESIGN §7) reuses each mainshock's epicentre at another time. A candidate is rejected
  when any real event lies within ``exclusion_deg`` in latitude *and* longitude and within
  ``exclusion_days`` (the constraint per pair). Magnitude and depth (needed for the
  Dobrovolsky radius) are drawn from the mainshocks. Seeded.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from seqnetquake.config import SATELLITES, ArtificialConfig, CatalogConfig, Config, MissionConfig
from seqnetquake.errors import InputError
from seqnetquake.fileio import write_json, write_parquet
from seqnetquake.geo import DAY_NS, dobrovolsky_radius_km, haversine_km, lon_diff_deg, to_ns
from seqnetquake.sources.catalog_sources import read_catalog_csv

OUTPUT_COLUMNS = [
    "event_id",
    "time",
    "latitude",
    "longitude",
    "depth_km",
    "magnitude",
    "source",
    "kind",
]
KINDS = ("mainshock", "aftershock", "artificial")


def _period_bounds(mission: MissionConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Half-open [start, end + 1 day) in UTC: ``end`` in params is inclusive."""
    start = pd.Timestamp(mission.start, tz="UTC")
    end = pd.Timestamp(mission.end + dt.timedelta(days=1), tz="UTC")
    return start, end


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
    window_ns = int(cfg.dedupe_seconds * 1e9)
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


def decluster(
    time: np.ndarray, lat: np.ndarray, lon: np.ndarray, box_deg: float, days: float
) -> np.ndarray:
    """True where an event is an aftershock; inputs sorted by time (datetime64 or int ns)."""
    t = to_ns(time)
    if np.any(np.diff(t) < 0):
        raise ValueError("decluster needs events sorted by time")
    half = box_deg / 2.0
    first = np.searchsorted(t, t - int(days * DAY_NS), side="left")
    aftershock = np.zeros(len(t), dtype=bool)
    for i in np.flatnonzero(first < np.arange(len(t))):
        j = slice(first[i], i)  # earlier events within the time window (ties: earlier rows)
        inside = (np.abs(lat[j] - lat[i]) <= half) & (lon_diff_deg(lon[j], lon[i]) <= half)
        aftershock[i] = bool(inside.any())
    return aftershock


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
    window = int(acfg.exclusion_days * DAY_NS)
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
    start, end = _period_bounds(mission)
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
    return art[OUTPUT_COLUMNS], n - len(art)


# --------------------------------------------------------------------------- time-shuffled null
# Benchmark control (docs/benchmark.md): the labels see real epicentres at wrong times. An
# event's candidate shifts depend only on its id and the params, and the chosen candidate k is
# kept in its id (``<id>~shuffled<k>``), so the simulator can undo the move
# (``simulate.unshuffle``) and keep the injected signal at the real times.
SHUFFLE_TAG = "~shuffled"


def null_shifts_ns(event_id: pd.Series, ccfg: CatalogConfig, satellite: str) -> np.ndarray:
    """(n, max_tries) candidate shifts (ns), +-U(min_shift_days, max_shift_days), keyed by id."""
    import zlib

    ncfg, tries = ccfg.shuffle, ccfg.artificial.max_tries
    out = np.empty((len(event_id), tries), dtype=np.int64)
    for i, eid in enumerate(event_id.astype(str)):
        rng = np.random.default_rng(
            [ncfg.seed, SATELLITES.index(satellite), zlib.crc32(eid.encode())])
        days = rng.uniform(ncfg.min_shift_days, ncfg.max_shift_days, tries)
        out[i] = np.round(np.where(rng.random(tries) < 0.5, days, -days) * DAY_NS)
    return out


def cyclic_shift_ns(t_ns: np.ndarray, shift_ns: np.ndarray, mission: MissionConfig) -> np.ndarray:
    """``t + shift`` wrapped into the mission period (its inverse is ``-shift``)."""
    start, end = _period_bounds(mission)
    return start.value + np.mod(t_ns - start.value + shift_ns, end.value - start.value)


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
        ok = np.abs(t - real_t[pending]) >= ccfg.shuffle.min_shift_days * DAY_NS
        ok &= ~_window_overlaps(t, pending, real_t, lat, lon, radius,
                                int(ccfg.artificial.exclusion_days * DAY_NS))
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
    start, end = _period_bounds(mission)
    in_period = (merged["time"] >= start) & (merged["time"] < end)
    quakes = merged[in_period & (merged["event_type"] == "earthquake")]
    quakes = quakes[quakes["magnitude"] >= ccfg.min_magnitude]
    quakes = quakes.sort_values(["time", "source_id"], kind="stable").reset_index(drop=True)
    after = decluster(
        quakes["time"].to_numpy(),
        quakes["latitude"].to_numpy(),
        quakes["longitude"].to_numpy(),
        ccfg.aftershock_box_deg,
        ccfg.aftershock_days,
    )
    real = pd.DataFrame(
        {
            "event_id": quakes["source"] + ":" + quakes["source_id"],
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
    art, shortfall = artificial_events(real, mission, ccfg.artificial, rng, f"art-{satellite}-")
    null_dropped = None
    if ccfg.shuffle.mode == "time_shuffled":  # benchmark control, after the artificial draw
        real, null_dropped = time_shuffled(real, mission, ccfg, satellite)
    table = pd.concat([real, art], ignore_index=True).sort_values("time", kind="stable")
    table = table.reset_index(drop=True)
    counts = {kind: int((table["kind"] == kind).sum()) for kind in KINDS}
    counts["artificial_shortfall"] = int(shortfall)
    counts["real_total"] = int(len(real))
    if null_dropped is not None:
        counts["null_dropped"] = null_dropped
    return table, counts


def run_stage(cfg: Config, catalog_dir: Path, out_dir: Path, metrics_path: Path) -> None:
    from seqnetquake import tracking

    merged = dedupe(read_sources(catalog_dir), cfg.catalog)
    tables, metrics = {}, {}
    for satellite in SATELLITES:
        tables[satellite], metrics[satellite] = build_catalog(merged, cfg, satellite)
        c = metrics[satellite]
        print(
            f"catalog {satellite}: {c['mainshock']} mainshocks, {c['aftershock']} aftershocks, "
            f"{c['artificial']} artificial (M >= {cfg.catalog.min_magnitude})"
        )
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
        tracking.log_counts(metrics)
