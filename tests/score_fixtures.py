"""A registered tiny model and raw CSES files for the score, serving and tracking-URI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from rawfiles import half_orbit
from tiny_windows import RF_HP, window_set

NAME = "seqnetquake-cses"
START = np.datetime64("2019-11-18T01:00:00", "ns")
BIN = Path(sys.executable).parent


# Residual-channel model fixture: the embedded default's channels, a reference of the
# previous 2 days (the fixture's history holds 2 days).
Z_CHANNELS = ("ne_z", "te_z")
Z_BACKGROUND = {"days": 2}


def _as_z(ws):
    """The same windows as z-like channels (standardised log10), as ne_z/te_z look."""
    import dataclasses

    logs = np.log10(ws.X.astype(np.float64))
    z = (logs - logs.mean(axis=(0, 1))) / logs.std(axis=(0, 1))
    return dataclasses.replace(ws, X=z.astype(np.float32), channels=Z_CHANNELS)


def register_tiny_model(root: Path, name: str = NAME,
                        channels: tuple[str, ...] = ("ne_cm3", "te_k")) -> str:
    """A fitted forest (T = 10, night side) on ``channels`` (ne_cm3 + te_k, or ne_z + te_z
    with the background params Z_BACKGROUND) registered as ``name`` v1, champion, in
    ``sqlite:///root/mlflow.db``; returns the store URI. Runs in the calling process."""
    import mlflow

    from seqnetquake import registry, serving
    from seqnetquake.config import BackgroundConfig
    from seqnetquake.models import get_model

    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    train, val = window_set(90, seed=3), window_set(30, seed=4, start=90)
    residual = tuple(channels) == Z_CHANNELS
    if residual:
        train, val = _as_z(train), _as_z(val)
    clf = get_model("rf").build(RF_HP, train.T, train.F)
    clf.fit(train, val, max_epochs=1, patience=1, seed=0)
    clf.save(root / "rf")
    experiment = mlflow.create_experiment("score-tests",
                                          artifact_location=(root / "mlartifacts").as_uri())
    background = BackgroundConfig(**Z_BACKGROUND).model_dump(mode="json") if residual else None
    with mlflow.start_run(experiment_id=experiment) as run:
        info = serving.log_classifier(root / "rf", val.X, channels=channels,
                                       half_orbit="night", background=background)
    registry.register_version(name, info.model_uri, run.info.run_id, {"val_mcc": 0.5},
                              {"git_commit": "abc"}, "tiny test model")
    return uri


def write_raw_day(directory: Path, n_night: int = 3, day: int = 0) -> list[Path]:
    """``n_night`` night half-orbits and one day half-orbit of CSES LAP files (600 s each),
    on START's day + ``day`` days (the same times of day, hence the same places)."""
    from seqnetquake.sources import cses

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    start0 = START + np.timedelta64(day, "D")
    orbit0 = 17420 + 15 * day
    for k in range(n_night):
        start = start0 + np.timedelta64(k * 5760, "s")
        ho = half_orbit(n=200, half=1, orbit=orbit0 + k, start=start)
        ho.ne_cm3 = ho.ne_cm3 * (1 + 0.5 * np.sin(np.arange(len(ho)) / 7.0 + day))
        paths.append(cses.write_half_orbit(directory, ho))
    dayside = half_orbit(n=200, half=0, orbit=orbit0, start=start0 + np.timedelta64(2880, "s"))
    paths.append(cses.write_half_orbit(directory, dayside))
    return paths


def write_history(path: Path, raw_dir: Path, days: list[int], kp: Path,
                  n_night: int = 3) -> Path:
    """The tracks stage's table of the fixture's raw days ``days`` (relative to START), built
    by the stage's own rules from files written to ``raw_dir``."""
    from seqnetquake import score as scoring
    from seqnetquake import tracks
    from seqnetquake.config import TracksConfig
    from seqnetquake.sources.formats import format_for
    from seqnetquake.sources.kp import read_kp

    files = [f for d in days for f in write_raw_day(raw_dir / f"d{d}", n_night, day=d)]
    halves, _ = scoring.read_raw("cses", files)
    cadence = format_for("cses").SURVEY_CADENCE_S
    table, _ = tracks.build_tracks(halves, [cadence] * len(halves), read_kp(kp),
                                   TracksConfig(), str(kp))
    table.to_parquet(path, index=False)
    return path


def write_kp(path: Path, first: str = "2019-11-17", quiet: bool = False) -> Path:
    """Kp from ``first`` to 2019-11-20 (every fifth 3-h interval disturbed unless ``quiet``)."""
    start = pd.date_range(first, "2019-11-20", freq="3h", tz="UTC", inclusive="left")
    kp = np.where((np.arange(len(start)) % 5 == 0) & (not quiet), 3.667, 1.0)
    pd.DataFrame({"start": start, "end": start + pd.Timedelta(hours=3),
                  "kp": kp}).to_parquet(path)
    return path


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess:
    """The installed ``seqnetquake`` command in ``cwd``, with this worktree's sources first."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    base = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    base["PYTHONPATH"] = os.pathsep.join([src, base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([str(BIN / "seqnetquake"), *args], cwd=cwd, capture_output=True,
                          text=True, env={**base, **(env or {})}, timeout=timeout)
