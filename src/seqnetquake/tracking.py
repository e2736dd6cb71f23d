"""MLflow plumbing: where runs go, and one MLflow run per pipeline stage.

Nothing here runs at import time: the tracking URI is resolved when a run starts, so that
``dvc exp run --temp`` (which runs in a temporary copy) still writes to the repository's store.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from seqnetquake.config import Config, load_config
from seqnetquake.fileio import pid_alive
from seqnetquake.paths import Layout, find_project_root, repo_root


def tracking_uri(cfg: Config) -> str:
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if cfg.mlflow.tracking_uri:
        return cfg.mlflow.tracking_uri
    return f"sqlite:///{Layout(repo_root()).mlflow_store}"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
            cwd=repo_root(),
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"  # the UI's "Model training" view


def configure(cfg: Config) -> str:
    """Point MLflow at the project's store and experiment; return the experiment id."""
    import mlflow  # deferred: heavy

    uri = tracking_uri(cfg)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is None:
        # A local store keeps artifacts beside the database, not in whatever the cwd is.
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
        try:
            # The kind tag goes in with the experiment, so no second writer has to add it.
            experiment_id = mlflow.create_experiment(
                cfg.mlflow.experiment, artifact_location=location,
                tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND},
            )
        except mlflow.exceptions.MlflowException:
            # Another writer (a concurrent search against the same server) created it first;
            # a PostgreSQL store may say so as a key violation rather than ALREADY_EXISTS.
            experiment = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
            if experiment is None:
                raise
    if experiment is not None:
        experiment_id = experiment.experiment_id
        if experiment.tags.get(EXPERIMENT_KIND_TAG) is None:
            _tag_kind(experiment_id)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def _tag_kind(experiment_id: str) -> None:
    """MLflow 3's UI opens an experiment without this tag in its GenAI view.

    Two writers may both find the tag missing (an experiment made by another tool); on a
    PostgreSQL store the second insert fails on the key, which is harmless once it is there.
    """
    import mlflow

    client = mlflow.MlflowClient()
    try:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    except mlflow.exceptions.MlflowException:
        if client.get_experiment(experiment_id).tags.get(EXPERIMENT_KIND_TAG) is None:
            raise


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params to MLflow's flat ``a.b.c`` keys."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def base_tags(cfg: Config, stage: str) -> dict[str, str]:
    tags = {
        "git_commit": git_commit(),
        "stage": stage,
        "data_kind": cfg.data_kind,
    }
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


_LAUNCHER: dict[str, str] = {}


def _launcher_run_id() -> str | None:
    """The run of ``mlflow run`` (MLproject) that launched this process, if any.

    MLflow passes it as MLFLOW_RUN_ID, which ``start_run`` would resume for the first stage
    (and fail on a second stage's params): take it out, and hang stage runs below it instead.
    """
    if os.environ.get("MLFLOW_RUN_ID"):
        _LAUNCHER["run_id"] = os.environ.pop("MLFLOW_RUN_ID")
    return _LAUNCHER.get("run_id")


@contextlib.contextmanager
def stage_run(
    cfg: Config,
    stage: str,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    run_name: str | None = None,
) -> Iterator[Any]:
    """One MLflow run for one stage execution, tagged with the git commit and data kind.

    A failing stage ends its run as FAILED (MLflow's context manager does that), never RUNNING.
    """
    import mlflow  # deferred: heavy

    experiment_id = configure(cfg)
    launcher = _launcher_run_id()
    close_stale_runs(experiment_id, {"stage": stage}, run_name=run_name or stage)
    with mlflow.start_run(run_name=run_name or stage, tags=owner_tags()) as run:
        if launcher:
            mlflow.set_tag("mlflow.parentRunId", launcher)
        mlflow.set_tags({**base_tags(cfg, stage), **(tags or {})})
        if params:
            mlflow.log_params({k: str(v)[:6000] for k, v in flatten(params).items()})
        yield run


PID_TAG, HOST_TAG = "process_id", "process_host"


def owner_tags() -> dict[str, str]:
    """Which process runs a stage: tells a stale RUNNING run (its process died) from a live one."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _stale(run: Any) -> bool:
    pid, host = run.data.tags.get(PID_TAG, ""), run.data.tags.get(HOST_TAG)
    if host is not None and host != socket.gethostname():
        return False  # another machine's process: cannot tell, leave it
    return not pid.isdigit() or (int(pid) != os.getpid() and not pid_alive(int(pid)))


def close_stale_runs(experiment_id: str, tags: Mapping[str, str], run_name: str | None = None,
                     exclude: str | None = None) -> list[str]:
    """Mark KILLED this stage's runs left RUNNING by a process that died (kill -9, power loss).

    ``tags`` (and ``run_name``) select the stage's own runs; runs of a live process stay.
    """
    import mlflow  # deferred: heavy

    client = mlflow.MlflowClient()
    query = [f"tags.{k} = '{v}'" for k, v in tags.items()] + ["attributes.status = 'RUNNING'"]
    if run_name:
        query.append(f"attributes.run_name = '{run_name}'")
    closed = []
    for run in client.search_runs([experiment_id], " and ".join(query), max_results=1000):
        if run.info.run_id == exclude or not _stale(run):
            continue
        client.set_terminated(run.info.run_id, status="KILLED")
        client.set_tag(run.info.run_id, "killed_reason", "stale: its process is gone")
        closed.append(run.info.run_id)
    if closed:
        label = " ".join(str(v) for v in tags.values())
        print(f"{label}: marked {len(closed)} stale RUNNING run(s) KILLED", file=sys.stderr)
    return closed


def log_counts(counts: Mapping[str, float | int], prefix: str = "") -> None:
    import mlflow  # deferred: heavy

    mlflow.log_metrics({f"{prefix}{k}": float(v) for k, v in flatten(counts).items()})


def dvc_lock_hashes(paths: list[str | Path], lock: str | Path | None = None) -> dict[str, str]:
    """The dvc.lock md5 of each path (its own, or that of the output directory holding it).

    Lineage for runs and model versions: the hash says exactly which data a model saw. Paths
    that dvc.lock does not know (no lock yet, stage never run) are left out.
    """
    lock = Path(lock) if lock else Layout(repo_root()).dvc_lock
    if not lock.exists():
        return {}
    outs: dict[str, str] = {}
    for stage in (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).values():
        for out in stage.get("outs", []):
            if "md5" in out:
                outs[str(out["path"]).rstrip("/")] = str(out["md5"])
    hashes = {}
    for path in paths:
        path = Path(path)
        if path.is_absolute() and path.is_relative_to(lock.parent.resolve()):
            path = path.relative_to(lock.parent.resolve())
        key = path.as_posix()
        for candidate in [key, *(p.as_posix() for p in Path(key).parents)]:
            if candidate in outs:
                hashes[key] = outs[candidate]
                break
    return hashes


def log_windows_input(path: str | Path, windows: Any, context: str) -> None:
    """Log a windows npz as an MLflow dataset input of the active run (the UI's Dataset
    column): named ``windows-<dataset>-<split>``, its digest the DVC md5 of the file (from
    dvc.lock, else computed: DVC's md5 of a file is the md5 of its bytes)."""
    import mlflow  # deferred: heavy

    path = Path(path)
    digest = next(iter(dvc_lock_hashes([path]).values()), None)
    if digest is None or digest.endswith(".dir"):
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "md5").hexdigest()
    with warnings.catch_warnings():  # "source can be interpreted in multiple ways": a file
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_numpy(
            windows.X, targets=windows.y, source=str(path.resolve()),
            name=f"windows-{path.parent.name}-{path.stem}", digest=digest)
    mlflow.log_input(dataset, context=context, tags={"windows": str(len(windows)),
                                                     "dvc_md5": digest})


def data_tags(paths: list[str | Path], lock: str | Path | None = None) -> dict[str, str]:
    """``dvc_md5/<path>`` tags for the input files of a run or a model version."""
    return {f"dvc_md5/{k}": v for k, v in dvc_lock_hashes(paths, lock).items()}


# --------------------------------------------------------------------------- user commands
class TrackingError(RuntimeError):
    """No usable tracking store; the message is the one-line reason shown to the user."""


def _store_problem(uri: str) -> str | None:
    """Why ``uri`` names no existing local store (MLflow would silently create an empty one)."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            return f"no MLflow store at {path}"
    elif uri.startswith("file:") or "://" not in uri:
        path = Path(uri.removeprefix("file://").removeprefix("file:"))
        if not path.is_dir():
            return f"no MLflow store folder at {path}"
    return None


def resolve_user_uri(explicit: str | None = None, params: str | Path | None = None,
                     near: tuple[str | Path, ...] = ()) -> str:
    """The tracking URI for commands a user runs anywhere (predict, score, promote, rollback).

    Order: ``--tracking-uri``, then MLFLOW_TRACKING_URI, then the project's own store: the
    project is the folder of ``--params`` if given, else the nearest folder above the cwd
    holding params.yaml and dvc.yaml (or, outside any project, above the input files ``near``);
    its params' ``mlflow.tracking_uri`` or ``sqlite:///<project>/mlflow.db``. A local store
    that does not exist is an error, never created empty. Needs no params.yaml when a URI is given.
    """
    hint = "(pass --tracking-uri URI or set MLFLOW_TRACKING_URI, or run from the project)"
    if explicit:
        uri, origin = explicit, "--tracking-uri"
    elif os.environ.get("MLFLOW_TRACKING_URI"):
        uri, origin = os.environ["MLFLOW_TRACKING_URI"], "MLFLOW_TRACKING_URI"
    else:
        if params is not None:
            params = Path(params).resolve()
            root = params.parent
        else:
            root = find_project_root()
            for path in near:
                if root is None and Path(path).exists():
                    root = find_project_root(Path(path) if Path(path).is_dir()
                                             else Path(path).parent)
            if root is None:
                raise TrackingError(f"no seqnetquake project (params.yaml + dvc.yaml) at or "
                                    f"above {Path.cwd()} {hint}")
            params = Layout(root).params
        configured = load_config(params).mlflow.tracking_uri
        uri = configured or f"sqlite:///{Layout(root).mlflow_store}"
        origin = str(params) if configured else f"project {root}"
    problem = _store_problem(uri)
    if problem:
        raise TrackingError(f"{problem} (from {origin}): run the pipeline first (make demo) or "
                            "point --tracking-uri / MLFLOW_TRACKING_URI at an existing store")
    return uri
