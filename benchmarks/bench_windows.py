"""Throughput of labelling + windowing (the windows stage) in track samples per second.

Not a test: prints figures. A synthetic sun-synchronous track (CSES-like: 97.4 deg, 94.6 min,
1.5 s cadence, |lat| <= 65 deg, random gaps, Kp in thirds) and a catalogue of thousands of
events (Gutenberg-Richter magnitudes, mainshocks, artificial events, aftershocks) are labelled
and cut for three datasets (fixed 3 deg, Dobrovolsky, fixed 10 deg); then the same from a
parquet file (the stage's read included) and, where they exist, the real
``data/interim/tracks_cses.parquet`` and ``catalog_cses.parquet``.

    .venv/bin/python benchmarks/bench_windows.py [--days 240] [--events 2000 20000]

240 days of CSES-like track are about 10 M rows. The real CSES catalogue has about 8 events a
day of all kinds (2046 mainshocks, 2046 artificial, 1167 aftershocks in 690 days): 2000 events
in 255 days is that density; 20000 is ten times it, a stress test.

Rates are per input track row (both half-orbits; the stage reads all rows of one half-orbit
and the other half is filtered on read), the figure that adds up along raw -> tracks -> windows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from seqnetquake.config import DatasetConfig, load_config
from seqnetquake.labels import events_from_catalog
from seqnetquake.windows import _read_tracks, build_windows, counts

REPO = Path(__file__).resolve().parents[1]
START = pd.Timestamp("2019-01-01", tz="UTC")
PERIOD_S = 94.6 * 60
INCLINATION = np.deg2rad(97.4)
EARTH_RATE = 2 * np.pi / 86_164.0  # rad/s, sidereal


def synthetic_track(days: float, cadence_s: float = 1.5, seed: int = 1) -> pd.DataFrame:
    """A CSES-like track table (docs/architecture.md columns) with gaps and bad records."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, days * 86_400.0, cadence_s)
    u = 2 * np.pi * t / PERIOD_S  # argument of latitude, from the ascending node
    lat = np.rad2deg(np.arcsin(np.sin(INCLINATION) * np.sin(u)))
    lon = np.rad2deg(np.arctan2(np.cos(INCLINATION) * np.sin(u), np.cos(u)) - EARTH_RATE * t)
    lon = (lon + 180.0) % 360.0 - 180.0
    keep = np.abs(lat) <= 65.0
    # ~5 % of half-orbits lose a stretch of 1-5 minutes
    orbit = (t // PERIOD_S).astype(np.int64)
    night = np.cos(u) < 0  # descending = night for CSES
    half_orbit_id = orbit * 10 + night
    gap_start = rng.uniform(0, days * 86_400.0, int(days * 30 * 0.05))
    gap_len = rng.uniform(60, 300, len(gap_start))
    in_gap = np.zeros(len(t), dtype=bool)
    for s, g in zip(gap_start, gap_len, strict=True):
        in_gap[int(s / cadence_s): int((s + g) / cadence_s)] = True
    keep &= ~in_gap
    t, lat, lon, half_orbit_id, night = t[keep], lat[keep], lon[keep], half_orbit_id[keep], night[keep]
    n = len(t)
    segment = np.cumsum(np.r_[0, (np.diff(t) > 1.5 * cadence_s) | (np.diff(half_orbit_id) != 0)])
    kp_3h = np.round(rng.gamma(2.0, 0.9, int(days * 8) + 1) * 3) / 3
    quality = np.where(rng.random(n) < 2e-4, 1, 0).astype(np.int16)
    return pd.DataFrame({
        "time": START + pd.to_timedelta(t, unit="s"),
        "lat": lat, "lon": lon, "alt": 507.0, "mlat": lat,
        "local_time": np.where(night, 2.0, 14.0),
        "half_orbit": np.where(night, "night", "day"),
        "orbit": half_orbit_id // 10, "half_orbit_id": half_orbit_id, "segment": segment,
        "ne_cm3": rng.lognormal(np.log(1e5), 0.3, n), "te_k": rng.normal(2000, 200, n),
        "kp": kp_3h[(t // 10_800).astype(np.int64)], "quality": quality,
    })


def synthetic_catalog(days: float, n_events: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kind = rng.choice(["mainshock", "artificial", "aftershock"], n_events, p=[0.4, 0.4, 0.2])
    return pd.DataFrame({
        "event_id": [f"{'art-cses-' if k == 'artificial' else 'bench:'}{i:05d}"
                     for i, k in enumerate(kind)],
        "time": START + pd.to_timedelta(rng.uniform(0, days + 15, n_events), unit="D"),
        "latitude": rng.uniform(-70, 70, n_events),
        "longitude": rng.uniform(-180, 180, n_events),
        "depth_km": 10.0,
        "magnitude": np.minimum(5.0 + rng.exponential(1 / np.log(10), n_events), 8.5),
        "source": np.where(kind == "artificial", "artificial", "iscgem"),
        "kind": kind,
    })


def bench(tracks: pd.DataFrame, catalog: pd.DataFrame, cfg, datasets: dict[str, DatasetConfig],
          n_rows: int, label: str) -> None:
    for name, d in datasets.items():
        events = events_from_catalog(catalog, d.radius)
        clock = time.perf_counter()
        built = build_windows(tracks, events, d, cfg.windows, cfg.tracks.cadence_s)
        seconds = time.perf_counter() - clock
        c = counts(built)
        print(f"{label} {name:>3} r={d.radius!s:<11} T={d.T:<3} {n_rows / 1e6:6.2f} M rows "
              f"{len(events):6d} events  {seconds:6.2f} s  {n_rows / seconds / 1e6:6.2f} M rows/s"
              f"  windows {c['train']['total'] + c['test']['total']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=240.0)
    parser.add_argument("--events", type=int, nargs="+", default=[2000, 20000])
    args = parser.parse_args()
    cfg = load_config(REPO / "params.yaml")
    datasets = {k: cfg.datasets[k] for k in ("01", "07", "10")}

    clock = time.perf_counter()
    tracks = synthetic_track(args.days)
    print(f"synthetic: {len(tracks)} rows over {args.days:g} days "
          f"(built in {time.perf_counter() - clock:.1f} s)")
    for n_events in args.events:
        catalog = synthetic_catalog(args.days, n_events)
        bench(tracks, catalog, cfg, datasets, len(tracks), "in-memory")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tracks.parquet"
        tracks.to_parquet(path, index=False)
        events = events_from_catalog(synthetic_catalog(args.days, args.events[0]), "dobrovolsky")
        d = datasets["07"]
        clock = time.perf_counter()
        part = _read_tracks(path, list(cfg.windows.features), d.half_orbit)
        read_s = time.perf_counter() - clock
        build_windows(part, events, d, cfg.windows, cfg.tracks.cadence_s)
        total_s = time.perf_counter() - clock
        print(f"parquet    07 {len(events)} events: read {read_s:.2f} s + build "
              f"{total_s - read_s:.2f} s: "
              f"{len(tracks) / total_s / 1e6:.2f} M rows/s (read included)")

    real_tracks = REPO / "data/interim/tracks_cses.parquet"
    real_catalog = REPO / "data/interim/catalog_cses.parquet"
    if real_tracks.exists() and real_catalog.exists():
        import pyarrow.parquet as pq

        n_rows = pq.ParquetFile(real_tracks).metadata.num_rows
        tracks = pd.read_parquet(real_tracks)
        bench(tracks, pd.read_parquet(real_catalog), cfg, datasets, n_rows, "real cses")
    else:
        print("real cses: data/interim/tracks_cses.parquet not built yet (skipped)")


if __name__ == "__main__":
    main()
