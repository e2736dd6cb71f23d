"""Throughput of the tracks stage (raw dumps -> track table), in native records per second.

Not a test: prints figures. Writes a synthetic month of raw dumps in the real formats with the
project's writers (CSES LAP L02 HDF5 at 3 s, DEMETER N1 ISL at 1 s; one file per half-orbit,
sun-synchronous local times, 10 % noise, telemetry gaps in 5 % of half-orbits, a few fill
values and spikes), then times the stage's phases separately:

- read: every file through ``read_half_orbit`` (HDF5 / binary I/O, one Python call per file);
- build: ``tracks.build_tracks`` (rules, spikes, segments, resampling, local time, Kp join,
  the DataFrame), the vectorised core; run ``--repeat`` times after a two-file warm-up
  (run 1 still pays the first page faults of its arrays; later runs reuse freed memory);
- write: the parquet output.

    .venv/bin/python benchmarks/bench_tracks.py [--days 30] [--satellite cses demeter]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from seqnetquake import tracks
from seqnetquake.config import load_config
from seqnetquake.sources import cses, demeter
from seqnetquake.sources.base import HalfOrbit

REPO = Path(__file__).resolve().parents[1]
START = np.datetime64("2019-10-01T00:00:00", "ns")
SAT = {  # cadence s, half-orbit duration s, day LT, night LT, altitude km
    "cses": (3.0, 47 * 60, 14.0, 2.0, 507.0),
    "demeter": (1.0, 49 * 60, 10.5, 22.5, 660.0),
}


def synthetic_half_orbits(satellite: str, days: int, seed: int = 0) -> list[HalfOrbit]:
    cadence, duration, lt_day, lt_night, alt = SAT[satellite]
    rng = np.random.default_rng(seed)
    n = int(duration / cadence * 0.72)  # recording within +-65 deg
    step = (np.arange(n) * cadence * 1e9).astype("timedelta64[ns]")
    out = []
    half_period = np.timedelta64(int(duration * 1e9), "ns")
    for k in range(int(days * 86400 / duration)):
        half = k % 2
        t = START + k * half_period + step
        lat = np.linspace(-65, 65, n) if half else np.linspace(65, -65, n)
        utc_h = ((t - t.astype("datetime64[D]")).astype(np.int64) / 3.6e12)
        lt = (lt_night if half else lt_day) + rng.normal(0, 0.05)
        lon = ((lt - utc_h) * 15.0 + 180.0) % 360.0 - 180.0
        ne = 1e5 * np.exp(rng.normal(0, 0.1, n)) * (1 + 0.5 * np.cos(np.radians(lat)))
        te = 1500 * np.exp(rng.normal(0, 0.1, n))
        bad = rng.random(n) < 2e-4
        ne[bad] = -9999.0
        spikes = rng.random(n) < 2e-4
        ne[spikes] *= 30
        keep = np.ones(n, dtype=bool)
        if rng.random() < 0.05:
            a = rng.integers(0, n - 50)
            keep[a:a + 40] = False
        out.append(HalfOrbit(satellite, 10000 + k // 2, half, t[keep], lat[keep], lon[keep],
                             np.full(keep.sum(), alt), lat[keep] - 8.0, ne[keep], te[keep]))
    return out


def kp_table() -> pd.DataFrame:
    start = pd.date_range("2019-09-01", "2020-01-01", freq="3h", tz="UTC")
    kp = np.round(np.random.default_rng(1).uniform(0, 5, len(start)) * 3) / 3
    return pd.DataFrame({"start": start, "end": start + pd.Timedelta(hours=3), "kp": kp})


def run(satellite: str, days: int, repeat: int) -> None:
    cfg = load_config(REPO / "params.yaml")
    module = {"cses": cses, "demeter": demeter}[satellite]
    halves = synthetic_half_orbits(satellite, days)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        raw.mkdir()
        t = time.perf_counter()
        for ho in halves:
            module.write_half_orbit(raw, ho)
        write_raw_s = time.perf_counter() - t
        paths = tracks.raw_files(satellite, raw)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        t = time.perf_counter()
        read = [module.read_half_orbit(p) for p in paths]
        read_s = time.perf_counter() - t
        n = sum(len(h) for h in read)
        kp = kp_table()
        # warm-up on two files: one-off imports (pyarrow, pandas internals) are not per-sample
        tracks.build_tracks(read[:2], [module.SURVEY_CADENCE_S] * 2, kp, cfg.tracks)
        builds = []
        for _ in range(repeat):
            t = time.perf_counter()
            table, counts = tracks.build_tracks(read, [module.SURVEY_CADENCE_S] * len(read), kp,
                                                cfg.tracks)
            builds.append(time.perf_counter() - t)
        t = time.perf_counter()
        table.to_parquet(Path(tmp) / "tracks.parquet", index=False)
        write_s = time.perf_counter() - t
    m = len(table)
    print(f"\n{satellite}: {days} days, {len(paths)} files ({size_mb:.0f} MB), {n:,} records "
          f"-> {m:,} samples at 1.5 s")
    print(f"  write raw (simulator side) {write_raw_s:6.2f} s  "
          f"{n / write_raw_s / 1e6:6.2f} M rec/s")
    print(f"  read raw files             {read_s:6.2f} s  {n / read_s / 1e6:6.2f} M rec/s "
          f"({read_s / len(paths) * 1e3:.2f} ms/file)")
    for i, b in enumerate(builds):
        print(f"  build_tracks run {i + 1}         {b:6.2f} s  {n / b / 1e6:6.2f} M rec/s  "
              f"{m / b / 1e6:6.2f} M out/s")
    print(f"  write parquet              {write_s:6.2f} s  {m / write_s / 1e6:6.2f} M out/s")
    total = read_s + builds[0] + write_s
    print(f"  whole stage (cold build)   {total:6.2f} s  {n / total / 1e6:6.2f} M rec/s")
    print(f"  dropped {counts['records_dropped']}, spikes {counts['flagged']['spike']}, "
          f"segments {counts['segments']}, half mismatches "
          f"{counts['flagged']['half_mismatch_files']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--satellite", nargs="+", default=["cses", "demeter"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for satellite in args.satellite:
        run(satellite, args.days, args.repeat)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
