"""CPU seconds of ``seqnetquake score`` on one day of CSES files, after the model is loaded.

Not a test: prints figures. Goal: one simulated day of CSES (~57,600 track samples at 1.5 s)
scored in <= 2 s of CPU (``time.process_time``: every thread of this process) from raw files
to the written table, figure included; the model load is timed apart. With a residual-channel
model (the default's ne_z, te_z) the reference of every new sample (previous 10 days' quiet
samples, background.compute_reference) is included; reading those days from the track
history is reported apart ("history load"), since an operational scorer keeps them in memory.

    .venv/bin/python benchmarks/bench_score.py                     # synthetic day, fresh model
    .venv/bin/python benchmarks/bench_score.py --channels ne_cm3,te_k    # the paper's raw input
    .venv/bin/python benchmarks/bench_score.py --raw-day data/raw/cses 2019-10-15 \\
        --model models:/seqnetquake-cses@champion                    # the project's files/model

The synthetic day is 15.2 orbits of a CSES-like track at the LAP survey cadence (3 s), full
latitude coverage, written as real LAP L02 files (30 half-orbits, 28,800 records), and its
history the same track over the 10 days before as a track table (576,000 samples at 1.5 s,
Kp 1); the fresh model is SeqNetQuake (T = 20) on ``--channels`` with the tuned
hyper-parameters if models/tuning/seqnetquake/best_params.json exists, fitted for one epoch
and logged to a temporary MLflow store, so that the pyfunc path (input check included) is the
one measured. With ``--raw-day`` the history is the project's data/interim/tracks_cses.parquet.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

REPO = Path(__file__).resolve().parents[1]
START = np.datetime64("2019-10-15T00:00:00", "ns")
PERIOD_S = 94.6 * 60
INCLINATION = np.deg2rad(97.4)
EARTH_RATE = 2 * np.pi / 86_164.0
SMALL_HP = {"n_sub": 2, "padding": "same", "cnn_layers": 2, "cnn_filters": 8, "cnn_kernel": 3,
            "cnn_activation": "relu", "lstm_layers": 1, "lstm_units": 32, "fc_layers": 2,
            "fc_units": 32, "fc_activation": "relu", "dropout": 0.25, "batch_size": 64}


def synthetic_day(directory: Path) -> list[Path]:
    """One day of CSES-like half-orbits as LAP L02 files (3 s survey cadence)."""
    from seqnetquake.sources import cses
    from seqnetquake.sources.base import HalfOrbit

    t = np.arange(0.0, 86_400.0, 3.0)
    lat, lon, u = track(t)
    rng = np.random.default_rng(3)
    ne = 10 ** (5 + 0.3 * np.cos(np.deg2rad(lat))) * rng.lognormal(0, 0.1, len(t))
    te = 1500 + 300 * np.sin(np.deg2rad(lat)) + rng.normal(0, 50, len(t))
    # half-orbits: from one pole to the other (ascending = day, descending = night for CSES)
    turn = np.flatnonzero(np.diff(np.sign(np.cos(u))) != 0) + 1
    paths = []
    local_time = (t / 3600.0 + lon / 15.0) % 24.0
    for k, (a, b) in enumerate(zip(np.r_[0, turn], np.r_[turn, len(t)], strict=True)):
        day = (local_time[a:b] >= 6) & (local_time[a:b] < 18)
        night = int(2 * day.sum() <= b - a)  # the tracks rule: majority of local times
        time_ns = START + (t[a:b] * 1e9).astype("timedelta64[ns]")
        paths.append(cses.write_half_orbit(directory, HalfOrbit(
            satellite="cses", orbit=9400 + (k + 1) // 2, half=night, time=time_ns,
            lat=lat[a:b], lon=lon[a:b], alt_km=np.full(b - a, 507.0), mlat=lat[a:b] - 8.0,
            ne_cm3=ne[a:b], te_k=te[a:b])))
    return paths


def track(t: np.ndarray) -> tuple[np.ndarray, ...]:
    """(lat, lon, phase) of the CSES-like orbit at ``t`` seconds after START."""
    u = 2 * np.pi * t / PERIOD_S
    lat = np.rad2deg(np.arcsin(np.sin(INCLINATION) * np.sin(u)))
    lon = np.rad2deg(np.arctan2(np.cos(INCLINATION) * np.sin(u), np.cos(u)) - EARTH_RATE * t)
    return lat, (lon + 180.0) % 360.0 - 180.0, u


def synthetic_history(path: Path, days: int = 10) -> Path:
    """The same track over the ``days`` days before START as a track table (1.5 s, Kp 1)."""
    import pandas as pd

    t = np.arange(-days * 86_400.0, 0.0, 1.5)
    lat, lon, u = track(t)
    rng = np.random.default_rng(4)
    half = np.cumsum(np.r_[0, np.diff(np.sign(np.cos(u))) != 0])
    local_time = (t / 3600.0 + lon / 15.0) % 24.0
    day_share = pd.Series((local_time >= 6) & (local_time < 18)).groupby(half).transform("mean")
    pd.DataFrame({
        "time": pd.to_datetime(START + (t * 1e9).astype("timedelta64[ns]"), utc=True),
        "lat": lat, "lon": lon,
        "half_orbit": np.where(day_share.to_numpy() > 0.5, "day", "night"),
        "half_orbit_id": half.astype(np.int64),
        "ne_cm3": 10 ** (5 + 0.3 * np.cos(np.deg2rad(lat))) * rng.lognormal(0, 0.1, len(t)),
        "te_k": 1500 + 300 * np.sin(np.deg2rad(lat)) + rng.normal(0, 50, len(t)),
        "kp": np.full(len(t), 1.0), "quality": np.zeros(len(t), dtype=np.int16),
    }).to_parquet(path, index=False)
    return path


def fresh_model(store: Path, channels: list[str]) -> str:
    """A SeqNetQuake model (T = 20) on ``channels`` logged to a temporary store (residual
    channels: with the default background params); returns its runs:/ URI."""
    import mlflow

    from seqnetquake import serving
    from seqnetquake.config import BackgroundConfig
    from seqnetquake.models import get_model
    from seqnetquake.windowcheck import needs_background
    from seqnetquake.windowset import WindowSet

    tuned = REPO / "models" / "tuning" / "seqnetquake" / "best_params.json"
    hp = json.loads(tuned.read_text()) if tuned.is_file() else SMALL_HP
    rng = np.random.default_rng(0)
    n, T = 512, 20
    residual = needs_background(channels)
    if residual:
        X = rng.normal(0, 1, (n, T, 2))
    else:
        X = np.stack([10 ** rng.normal(5, 0.3, (n, T)), rng.normal(1500, 100, (n, T))], -1)
    # One event every 8 windows, 3 h apart: the chronological cut needs whole events on each
    # side and its gap (windowset.split_by_events).
    ws = WindowSet(X=X.astype(np.float32), y=rng.integers(0, 3, n),
                   event_id=np.char.add("ev", (np.arange(n) // 8).astype(str)),
                   t0=START + np.arange(n) * np.timedelta64(3, "h"), lat=np.zeros(n),
                   lon=np.zeros(n), half_orbit_id=np.arange(n) // 20)
    clf = get_model("seqnetquake").build(hp, T, 2)
    train, val = ws.chronological_split(0.2)
    clf.fit(train, val, max_epochs=1, patience=1, seed=0)
    clf.save(store / "model")
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    experiment = mlflow.create_experiment("bench", artifact_location=(store / "art").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        serving.log_classifier(store / "model", ws.X, channels=channels, half_orbit="night",
                                background=BackgroundConfig().model_dump(mode="json")
                                if residual else None)
    return f"runs:/{run.info.run_id}/model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-day", nargs=2, metavar=("FOLDER", "YYYY-MM-DD"),
                        help="score the files of one day from FOLDER instead")
    parser.add_argument("--model", help="model URI (default: a fresh model, see above)")
    parser.add_argument("--tracking-uri", help="store of --model (default: the project's)")
    parser.add_argument("--history", type=Path,
                        help="track table for residual channels (default: the synthetic "
                             "history, or with --raw-day the project's)")
    parser.add_argument("--channels", default="ne_z,te_z",
                        help="channels of the fresh model (default the embedded default's)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import mlflow

    from seqnetquake import score as scoring
    from seqnetquake.tracking import resolve_user_uri

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.raw_day:
            folder, day = Path(args.raw_day[0]), args.raw_day[1].replace("-", "")
            files = sorted(folder.glob(f"*_{day}_*_{day}_*"))
            history = args.history  # default: the project's track table
        else:
            files = synthetic_day(tmp / "raw")
            history = args.history or synthetic_history(tmp / "tracks_cses.parquet")
        if args.model:
            mlflow.set_tracking_uri(resolve_user_uri(args.tracking_uri))
            uri = args.model
        else:
            uri = fresh_model(tmp, args.channels.split(","))
        kp = REPO / "data" / "interim" / "kp.parquet"
        clock, cpu = time.perf_counter(), time.process_time()
        model = scoring.load_model(uri)
        print(f"model {uri}: T = {model.T}, channels {', '.join(model.channels)}, half-orbit "
              f"{model.half_orbit or 'both'}; load {time.process_time() - cpu:.2f} s CPU, "
              f"{time.perf_counter() - clock:.2f} s wall")
        for attempt in range(args.repeat):
            clock, cpu = time.perf_counter(), time.process_time()
            result = scoring.score_files(files, model, root=REPO, history=history,
                                         kp_path=kp if kp.is_file() else None)
            scored = time.process_time() - cpu
            scoring.write_scores(result.scores, tmp / "scores.parquet")
            scoring.plot_along_track(result.scores, tmp / "scores.png", uri)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - clock
            load = result.seconds.get("history_load", 0.0)
            extra = ""
            if model.residual:
                extra = (f"; history load {load:.2f} s CPU ({result.history_origin}) apart, "
                         f"reference {result.seconds['reference']:.2f} s CPU included, "
                         f"{result.counts['windows_no_reference']} windows without reference")
            print(f"run {attempt + 1}: {len(files)} files, {result.counts['records_read']} "
                  f"records, {result.counts['samples_out']} track samples, "
                  f"{len(result.scores)} windows: {scored - load:.2f} s CPU to score, "
                  f"{cpu - load:.2f} s CPU with table and figure ({wall:.2f} s wall){extra}; "
                  f"goal <= 2 s")


if __name__ == "__main__":
    main()
