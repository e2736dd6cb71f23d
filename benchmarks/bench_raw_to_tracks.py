"""Virtual satellite and raw -> tracks: seconds per simulated day, samples/s, peak memory.

Not a test: prints figures. For each satellite it

1. simulates ``--days`` days with the project's simulator (params.yaml physics, the real Kp
   and, where the catalog stage has run, the real catalogue), timing apart the one-off PyIRI
   month grids (cold cache), the per-day physics and the writing of the raw files;
2. runs the tracks stage (``seqnetquake.tracks.run_stage``) on those raw dumps in a child
   process, so that its wall time and peak resident memory are its own, and reports native
   records per second (the figure that adds up along raw -> tracks -> windows).

Further sections (e.g. windows) plug in with the ``@section`` decorator: a function taking the
:class:`Context` (with the track table of the previous section) and returning a dict of figures.

    .venv/bin/python benchmarks/bench_raw_to_tracks.py [--days 30] [--satellite cses demeter]
        [--keep DIR] [--skip tracks] [--workers 1 2] [--raw-dir data/raw/cses --satellite cses]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Context:
    """What one satellite's sections share: config, inputs, and what earlier sections made."""

    cfg: object
    satellite: str
    days: int
    work: Path
    kp_path: Path
    catalog_path: Path | None
    raw_dir: Path | None = None
    workers: tuple[int, ...] = (1, 2)
    tracks_path: Path | None = None
    figures: dict[str, dict] = field(default_factory=dict)


SECTIONS: dict[str, Callable[[Context], dict]] = {}


def section(name: str):
    """Register a benchmark section; sections run in registration order."""

    def register(func: Callable[[Context], dict]) -> Callable[[Context], dict]:
        SECTIONS[name] = func
        return func

    return register


def _period_config(cfg, satellite: str, days: int):
    period = getattr(cfg.simulate, satellite)
    end = period.start + pd.Timedelta(days=days - 1).to_pytimedelta()
    sim = cfg.simulate.model_copy(update={satellite: period.model_copy(update={"end": end})})
    return cfg.model_copy(update={"simulate": sim})


@section("simulate")
def bench_simulate(ctx: Context) -> dict:
    """Simulator cost: cold PyIRI months, physics per day, raw-file writing per day."""
    import importlib

    from seqnetquake.simulate import ionosphere, read_inputs
    from seqnetquake.simulate.satellite import VirtualSatellite

    cfg = _period_config(ctx.cfg, ctx.satellite, ctx.days)
    period = getattr(cfg.simulate, ctx.satellite)
    if ctx.catalog_path is not None:
        mainshocks, kp = read_inputs(ctx.catalog_path, ctx.kp_path)
    else:
        mainshocks, kp = read_inputs_without_catalog(ctx.kp_path)
    cache = ctx.work / "iri"
    writer = importlib.import_module(f"seqnetquake.sources.{ctx.satellite}").write_half_orbit
    ctx.raw_dir = ctx.work / "raw"
    ctx.raw_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    sat = VirtualSatellite(cfg, ctx.satellite, mainshocks, kp, cache)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    months = ionosphere.months_needed(period.start, period.end)
    for year, month in months:
        sat.month_grid(year, month)
    t_iri = time.perf_counter() - t0
    t_physics = t_write = 0.0
    totals: dict[str, int] = {}
    for day in sat.days():
        t0 = time.perf_counter()
        result = sat.simulate_day(day)
        t1 = time.perf_counter()
        for half_orbit in result.half_orbits:
            writer(ctx.raw_dir, half_orbit)
        t_write += time.perf_counter() - t1
        t_physics += t1 - t0
        for key, value in result.counts.items():
            totals[key] = totals.get(key, 0) + value
    n = len(sat.days())
    size_mb = sum(p.stat().st_size for p in ctx.raw_dir.iterdir()) / 1e6
    return {
        "days": n,
        "init_s": t_init,
        "iri_months": len(months),
        "iri_cold_s_per_month": t_iri / len(months),
        "physics_s_per_day": t_physics / n,
        "write_s_per_day": t_write / n,
        "s_per_day_warm_cache": (t_physics + t_write) / n,
        "s_per_day_cold_cache": (t_init + t_iri + t_physics + t_write) / n,
        "samples_per_day": totals["samples"] / n,
        "samples_near_events_per_day": totals["samples_near_events"] / n,
        "perturbed_samples_per_day": totals["perturbed_samples"] / n,
        "raw_mb": size_mb,
        "samples": totals["samples"],
    }


def read_inputs_without_catalog(kp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """No catalogue stage output yet: simulate without events (said in the printout)."""
    empty = pd.DataFrame({
        "event_id": pd.Series([], dtype=str), "time": pd.Series([], dtype="datetime64[ns, UTC]"),
        "latitude": [], "longitude": [], "magnitude": [], "kind": pd.Series([], dtype=str),
    })
    return empty, pd.read_parquet(kp_path)


def _tracks_child(cfg, satellite: str, raw_dir: str, kp_path: str, out: str, queue) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(out).parent / 'mlflow.db'}"
    import mlflow

    from seqnetquake import tracking, tracks

    tracking.configure(cfg)  # create the MLflow store outside the timing (seconds, one-off)
    t0 = time.perf_counter()
    tracks.run_stage(cfg, satellite, Path(raw_dir), Path(kp_path), Path(out),
                     Path(out).with_suffix(".json"))
    seconds = time.perf_counter() - t0
    stage = mlflow.search_runs(filter_string="tags.stage = 'tracks'", output_format="list",
                               order_by=["attributes.start_time DESC"], max_results=1)
    read_s = stage[0].data.metrics["timing.read_s"] if stage else float("nan")
    peak_kb = max(resource.getrusage(who).ru_maxrss
                  for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    queue.put((seconds, read_s, peak_kb))


@section("tracks")
def bench_tracks(ctx: Context) -> dict:
    """raw dumps -> track table, in a child process (own wall time and peak RSS), once per
    ``--workers`` value (``tracks.workers``: processes reading the raw files)."""
    import json

    figures: dict[str, float | int] = {}
    for workers in ctx.workers:
        out = ctx.work / f"w{workers}" / f"tracks_{ctx.satellite}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        cfg = ctx.cfg.model_copy(
            update={"tracks": ctx.cfg.tracks.model_copy(update={"workers": workers})})
        queue: mp.Queue = mp.get_context("spawn").Queue()
        proc = mp.get_context("spawn").Process(
            target=_tracks_child,
            args=(cfg, ctx.satellite, str(ctx.raw_dir), str(ctx.kp_path), str(out), queue),
        )
        proc.start()
        seconds, read_s, maxrss_kb = queue.get()
        proc.join()
        counts = json.loads(out.with_suffix(".json").read_text())
        ctx.tracks_path = out
        records = counts["records_read"]
        figures.update({
            "files": counts["files"],
            "records_read": records,
            "rows_out": counts["samples_out"],
            f"w{workers}_seconds": seconds,
            f"w{workers}_read_ms_per_file": 1000 * read_s / counts["files"],
            f"w{workers}_records_per_s_read": records / read_s,
            f"w{workers}_records_per_s": records / seconds,
            f"w{workers}_peak_rss_mb": maxrss_kb / 1024,
        })
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="simulated days per satellite")
    parser.add_argument("--satellite", nargs="+", default=["cses", "demeter"])
    parser.add_argument("--keep", type=Path, help="keep raw dumps and tracks here")
    parser.add_argument("--skip", nargs="*", default=[], choices=list(SECTIONS))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="tracks.workers values to time the tracks section with")
    parser.add_argument("--raw-dir", type=Path,
                        help="existing raw dumps of the (single) satellite: skips 'simulate'")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from seqnetquake.config import load_config
    from seqnetquake.kp import load_kp

    cfg = load_config(REPO / "params.yaml")
    with tempfile.TemporaryDirectory(prefix="bench_raw_") as tmp:
        base = args.keep or Path(tmp)
        kp_path = REPO / "data/interim/kp.parquet"
        if not kp_path.exists():
            kp_path = base / "kp.parquet"
            load_kp(cfg).to_parquet(kp_path)
        for satellite in args.satellite:
            catalog = REPO / f"data/interim/catalog_{satellite}.parquet"
            ctx = Context(cfg, satellite, args.days, base / satellite, kp_path,
                          catalog if catalog.exists() else None)
            ctx.work.mkdir(parents=True, exist_ok=True)
            ctx.workers = tuple(args.workers)
            if args.raw_dir is not None:
                ctx.raw_dir = args.raw_dir
                args.skip = [*args.skip, "simulate"]
            if args.raw_dir is not None:
                print(f"== {satellite}: raw files in {args.raw_dir}", flush=True)
            else:
                print(f"== {satellite}: {args.days} days from "
                      f"{getattr(cfg.simulate, satellite).start}"
                      + ("" if ctx.catalog_path else " (no catalogue: no events)"), flush=True)
            for name, func in SECTIONS.items():
                if name in args.skip:
                    continue
                ctx.figures[name] = figures = func(ctx)
                for key, value in figures.items():
                    shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}"
                    print(f"  {name:9s} {key:30s} {shown:>14s}", flush=True)


if __name__ == "__main__":
    main()
