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


def register_tiny_model(root: Path, name: str = NAME) -> str:
    """A fitted forest (T = 10, ne_cm3 + te_k, night side) registered as ``name`` v1, champion,
    in ``sqlite:///root/mlflow.db``; returns the store URI. Runs in the calling process."""
    import mlflow

    from seqnetquake import registry
    from seqnetquake.models import get_model

    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    train, val = window_set(90, seed=3), window_set(30, seed=4, start=90)
    clf = get_model("rf").build(RF_HP, train.T, train.F)
    clf.fit(train, val, max_epochs=1, patience=1, seed=0)
    clf.save(root / "rf")
    experiment = mlflow.create_experiment("score-tests",
                                          artifact_location=(root / "mlartifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        info = registry.log_classifier(root / "rf", val.X, half_orbit="night")
    registry.register_version(name, info.model_uri, run.info.run_id, {"val_mcc": 0.5},
                              {"git_commit": "abc"}, "tiny test model")
    return uri


def write_raw_day(directory: Path, n_night: int = 3) -> list[Path]:
    """``n_night`` night half-orbits and one day half-orbit of CSES LAP files (600 s each)."""
    from seqnetquake.sources import cses

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n_night):
        start = START + np.timedelta64(k * 5760, "s")
        ho = half_orbit(n=200, half=1, orbit=17420 + k, start=start)
        ho.ne_cm3 = ho.ne_cm3 * (1 + 0.5 * np.sin(np.arange(len(ho)) / 7.0))
        paths.append(cses.write_half_orbit(directory, ho))
    day = half_orbit(n=200, half=0, orbit=17420, start=START + np.timedelta64(2880, "s"))
    paths.append(cses.write_half_orbit(directory, day))
    return paths


def write_kp(path: Path) -> Path:
    start = pd.date_range("2019-11-17", "2019-11-20", freq="3h", tz="UTC", inclusive="left")
    pd.DataFrame({"start": start, "end": start + pd.Timedelta(hours=3),
                  "kp": np.where(np.arange(len(start)) % 5 == 0, 3.667, 1.0)}).to_parquet(path)
    return path


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess:
    """The installed ``seqnetquake`` command in ``cwd``, with this worktree's sources first."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    base = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    base["PYTHONPATH"] = os.pathsep.join([src, base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([str(BIN / "seqnetquake"), *args], cwd=cwd, capture_output=True,
                          text=True, env={**base, **(env or {})}, timeout=timeout)
