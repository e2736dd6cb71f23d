"""Hyperopt searches (TPE) with one nested MLflow run per trial, resumable after a kill.

Xiong et al. 2021 tuned every model with 100 TPE evaluations (``tuning.max_evals``). Here the
loss is minus the weighted F1 on a validation split cut chronologically from the *end of the
training set* (``windowset.fit_validation_split``: whole events, a gap of days); the test
set is never read (only ``train.npz`` is opened). Keras models stop early on the validation
loss instead of searching the epoch count (the authors searched 10/50/100 epochs;
see benchmarks/bench_tuning.py).

Resumability: the search runs one evaluation per ``fmin`` call, with the TPE random state
seeded from ``(seed, trial number)``, and writes the trial documents as JSON (data only, never
a pickle: the folder is a DVC output that can arrive from a shared cache) atomically after every
trial; a resumed search rebuilds its ``hyperopt.Trials`` from them. So a search that is killed
and run again continues where it stopped and proposes exactly the trials an uninterrupted
search would have; finished trials are not recomputed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqnetquake.config import Config
from seqnetquake.fileio import atomic_path, remove_stale_temporaries, write_json
from seqnetquake.windowset import (
    WindowSet,
    fit_validation_split,
    load_windows,
    validation_gap_days,
)

TRIALS_FILE = "trials.json"  # the trial documents (JSON); never a pickle
BEST_PARAMS_FILE = "best_params.json"
SEARCH_FILE = "search.json"
STATE_FILE = "resume.json"  # fingerprint of what the trials were computed on + parent run id


def to_builtin(value: Any) -> Any:
    """NumPy scalars/arrays inside dicts and lists -> plain Python (for JSON and MLflow)."""
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_builtin(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_builtin(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def score(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Weighted F1 (the search's objective), multiclass MCC and accuracy."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    y_pred = np.asarray(proba).argmax(axis=1)
    return {
        "f1_weighted": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        "mcc": float(matthews_corrcoef(y_true, y_pred)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
    }


def evaluate_params(
    spec: Any,
    params: dict[str, Any],
    train: WindowSet,
    val: WindowSet,
    *,
    max_epochs: int,
    patience: int,
    seed: int,
) -> dict[str, Any]:
    """Build, fit and score one hyper-parameter set: the body of one trial."""
    start = time.perf_counter()
    clf = spec.build(params, train.T, train.F)
    fit = clf.fit(train, val, max_epochs=max_epochs, patience=patience, seed=seed)
    metrics = score(val.y, clf.predict_proba(val.X))
    return {
        "loss": -metrics["f1_weighted"],
        **metrics,
        "epochs": int(fit.epochs),
        "seconds": time.perf_counter() - start,
        "history": fit.history,
    }


@dataclass
class SearchResult:
    best_params: dict[str, Any]
    best_loss: float
    n_trials: int  # finished trials in ``trials``, old and new
    n_new: int  # trials computed by this call
    seconds: float  # wall time of this call
    trials: Any  # hyperopt.Trials


def _log_trial(index: int | None, params: dict[str, Any], result: dict[str, Any],
               name: str) -> None:
    """Everything about one trial into the active (nested) MLflow run (``index`` None: a Spark
    worker, which cannot know it; the driver tags the run afterwards)."""
    import mlflow
    from mlflow.entities import Metric

    from seqnetquake.tracking import flatten

    mlflow.set_tags({"model": name, **({"trial": str(index)} if index is not None else {})})
    mlflow.log_params({k: str(v)[:6000] for k, v in flatten(params).items()})
    mlflow.log_metrics(
        {
            "loss": result["loss"],
            "val_f1_weighted": result["f1_weighted"],
            "val_mcc": result["mcc"],
            "val_accuracy": result["accuracy"],
            "epochs": result["epochs"],
            "duration_s": result["seconds"],
        }
    )
    now = int(time.time() * 1000)
    curves = [
        Metric(f"epoch_{key}", float(v), now, step)
        for key, values in result["history"].items()
        for step, v in enumerate(values)
    ]
    if curves:
        run_id = mlflow.active_run().info.run_id
        mlflow.MlflowClient().log_batch(run_id, metrics=curves)


def no_progress(trials: Any, rounds: int | None) -> bool:
    """True when the best loss has not improved in the last ``rounds`` trials.

    A pure function of the trials (unlike hyperopt's ``no_progress_loss`` closure), so a
    resumed search stops exactly where an uninterrupted one would.
    """
    if not rounds:
        return False
    losses = [r["loss"] for r in trials.results if r.get("status") == "ok"]
    return bool(losses) and len(losses) - 1 - int(np.argmin(losses)) >= rounds


def search(
    spec: Any,
    train: WindowSet,
    val: WindowSet,
    *,
    max_evals: int,
    seed: int,
    max_epochs: int,
    patience: int,
    space: dict[str, Any] | None = None,
    trials: Any = None,
    nested_runs: bool = False,
    no_progress_evals: int | None = None,
    on_trial: Callable[[Any], None] | None = None,
    log: Callable[[str], None] | None = None,
    backend: str = "local",
    spark: Any = None,
    trial_tags: dict[str, str] | None = None,
) -> SearchResult:
    """TPE search over ``space`` (default ``spec.space``) up to ``max_evals`` trials in total.

    ``trials`` (a ``hyperopt.Trials``) carries earlier trials to resume from; ``on_trial`` is
    called with it after each trial (to persist it); with ``nested_runs`` each trial is a
    nested MLflow run under the active run. ``no_progress_evals`` stops the search once that
    many trials in a row have not improved the best loss. ``trial_tags`` go on every
    nested trial run (the stage's lineage tags: git commit, data kind, stage).
    """
    from hyperopt import STATUS_OK, Trials, fmin, space_eval, tpe

    space = spec.space if space is None else space
    trials = Trials() if trials is None else trials
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if backend == "spark":  # trials as Spark tasks: tuning_backends.py
        from seqnetquake.config import SparkConfig
        from seqnetquake.tuning_backends import spark_search

        return spark_search(spec, train, val, max_evals=max_evals, seed=seed,
                            max_epochs=max_epochs, patience=patience, space=space, trials=trials,
                            nested_runs=nested_runs, no_progress_evals=no_progress_evals,
                            on_trial=on_trial, log=log, settings=spark or SparkConfig())
    n_start = len(trials.trials)
    start = time.perf_counter()

    def objective(params: dict[str, Any]) -> dict[str, Any]:
        params = to_builtin(params)
        index = len(trials.trials) - 1  # the trial hyperopt has just inserted

        def run() -> dict[str, Any]:
            return evaluate_params(
                spec, params, train, val, max_epochs=max_epochs, patience=patience, seed=seed
            )

        if nested_runs:
            import mlflow

            with mlflow.start_run(run_name=f"trial-{index:03d}", nested=True,
                                  tags=trial_tags) as child:
                result = run()
                _log_trial(index, params, result, spec.name)
                result["run_id"] = child.info.run_id
        else:
            result = run()
        del result["history"]  # in MLflow; keeps trials.json small
        return {**result, "status": STATUS_OK, "params": params}

    while len(trials.trials) < max_evals and not no_progress(trials, no_progress_evals):
        n_done = len(trials.trials)
        fmin(
            objective,
            space,
            algo=tpe.suggest,
            max_evals=n_done + 1,
            trials=trials,
            # One stream per trial number: resuming replays exactly the uninterrupted search.
            rstate=np.random.default_rng([seed, n_done]),
            show_progressbar=False,
        )
        if on_trial is not None:
            on_trial(trials)
        last, best = trials.trials[-1]["result"], trials.best_trial["result"]
        log(
            f"tune {spec.name}: trial {n_done + 1}/{max_evals} loss {last['loss']:.4f} "
            f"(F1 {last['f1_weighted']:.4f}, MCC {last['mcc']:.4f}, {last['epochs']} epochs, "
            f"{last['seconds']:.1f} s); best {best['loss']:.4f}"
        )

    best_params = to_builtin(space_eval(space, trials.argmin))
    return SearchResult(
        best_params=best_params,
        best_loss=float(trials.best_trial["result"]["loss"]),
        n_trials=len(trials.trials),
        n_new=len(trials.trials) - n_start,
        seconds=time.perf_counter() - start,
        trials=trials,
    )


# ------------------------------------------------------------------------------ the stage
def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(cfg: Config, model: str, space: dict[str, Any], data_sha256: str) -> str:
    """What the saved trials depend on: a change in any of these starts a fresh search.

    ``max_evals`` is deliberately not part of it: raising it continues the search.
    """
    from hyperopt.pyll import as_apply

    t = cfg.tuning
    payload = {
        "model": model,
        "space": str(as_apply(space)),  # the printed graph: stable across processes
        "data_sha256": data_sha256,
        "seed": t.seed,
        "validation_fraction": t.validation_fraction,
        "validation_gap_days": validation_gap_days(cfg),
        "max_epochs": t.max_epochs,
        "patience": t.patience,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


_DATETIME = "$datetime"


def _encode(value: Any) -> Any:
    """JSON ``default``: the non-JSON values of hyperopt trial documents, exactly."""
    if isinstance(value, dt.datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, np.generic | np.ndarray):
        return to_builtin(value)
    raise TypeError(f"not JSON-serialisable in a trial document: {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if set(obj) == {_DATETIME}:
        return dt.datetime.fromisoformat(obj[_DATETIME])
    return obj


def trials_to_json(trials: Any) -> str:
    """The trial documents (and attachments) of a ``hyperopt.Trials`` as plain JSON."""
    return json.dumps({"format": 1, "trials": list(trials._dynamic_trials),
                       "attachments": dict(trials.attachments)}, default=_encode)


def trials_from_json(text: str, source: str | Path = "trials.json") -> Any:
    """A ``hyperopt.Trials`` rebuilt from :func:`trials_to_json` (data only; nothing runs)."""
    from hyperopt import Trials
    from hyperopt.exceptions import InvalidTrial

    from seqnetquake.errors import InputError

    try:
        state = json.loads(text, object_hook=_decode)
        if not isinstance(state, dict) or state.get("format") != 1:
            raise ValueError("unknown format (expected an object with format 1)")
        trials = Trials()
        trials.insert_trial_docs(state["trials"])
        trials.attachments.update(state.get("attachments", {}))
        trials.refresh()
    except (ValueError, KeyError, TypeError, InvalidTrial) as exc:
        raise InputError(source, "trials", f"not a saved search: {exc}".splitlines()[0]) from exc
    return trials


def save_trials(trials: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(trials_to_json(trials))


def load_state(out_dir: Path, fp: str) -> tuple[Any, str | None]:
    """(trials, parent run id) saved by an earlier run of the same search, else (None, None)."""
    state_path, trials_path = out_dir / STATE_FILE, out_dir / TRIALS_FILE
    if not state_path.exists():
        return None, None
    state = json.loads(state_path.read_text())
    if state.get("fingerprint") != fp:
        print(f"tune: {out_dir}: data, space or settings changed; starting afresh",
              file=sys.stderr)
        return None, None
    if (out_dir / "trials.pkl").exists():
        print(f"tune: {out_dir / 'trials.pkl'}: ignored (pickles are never loaded); the search "
              f"state is {TRIALS_FILE}", file=sys.stderr)
    trials = None
    if trials_path.exists():
        trials = trials_from_json(trials_path.read_text(), trials_path)
    return trials, state.get("parent_run_id")


def close_orphans(client: Any, experiment_id: str, parent_run_id: str, n_done: int) -> int:
    """Mark KILLED the child runs of a killed search: those still RUNNING, and finished ones
    whose trial never reached trials.json (it will be recomputed). Returns how many."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=50000,
    )
    closed = 0
    for run in runs:
        trial = run.data.tags.get("trial")
        orphan = run.info.status == "RUNNING" or (  # no trial tag: a Spark trial never recorded
            run.info.status == "FINISHED" and (trial is None or int(trial) >= n_done)
        )
        if orphan:
            client.set_terminated(run.info.run_id, status="KILLED")
            client.set_tag(run.info.run_id, "killed_reason", "search interrupted; trial redone")
            closed += 1
    return closed


def _usable_parent(client: Any, run_id: str | None, experiment_id: str) -> str | None:
    if not run_id:
        return None
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:  # deleted, or the id comes from another tracking store
        return None
    if run.info.experiment_id != experiment_id or run.info.lifecycle_stage != "active":
        return None
    return run_id


def run_stage(cfg: Config, model: str, dataset_dir: Path, out_dir: Path) -> None:
    """Tune ``model`` on ``dataset_dir/train.npz``; write best_params.json, trials.json,
    search.json to ``out_dir``. Run again after an interruption (or with a larger
    ``max_evals``) to continue the same search under the same parent MLflow run."""
    import mlflow

    from seqnetquake import tracking
    from seqnetquake.models import get_model

    spec = get_model(model)
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    train_path = dataset_dir / "train.npz"
    data = load_windows(train_path, channels=cfg.windows.features)  # never test.npz
    train, val = fit_validation_split(data, cfg)
    data_sha = file_sha256(train_path)
    fp = fingerprint(cfg, model, spec.space, data_sha)

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (TRIALS_FILE, STATE_FILE, SEARCH_FILE, BEST_PARAMS_FILE):
        remove_stale_temporaries(out_dir / name)
    trials, parent_id = load_state(out_dir, fp)
    experiment_id = tracking.configure(cfg)
    client = mlflow.MlflowClient()
    parent_id = _usable_parent(client, parent_id, experiment_id)
    tracking.close_stale_runs(experiment_id, {"stage": "tune", "model": model}, exclude=parent_id)
    if parent_id is None and trials is not None and len(trials.trials):
        print(f"tune {model}: parent run not found in this store; a new one holds the rest",
              file=sys.stderr)
    n_done = len(trials.trials) if trials is not None else 0
    if parent_id is not None:
        closed = close_orphans(client, experiment_id, parent_id, n_done)
        if closed:
            print(f"tune {model}: marked {closed} interrupted trial run(s) KILLED",
                  file=sys.stderr)
    if n_done:
        print(f"tune {model}: resuming after {n_done} finished trial(s)", file=sys.stderr)

    # Under `mlflow run` (MLproject) MLFLOW_RUN_ID names the launcher's run, which start_run
    # would otherwise take over: hang the search below it instead.
    launcher = tracking._launcher_run_id()
    with mlflow.start_run(run_id=parent_id, run_name=None if parent_id else f"tune-{model}") as run:
        new_parent = parent_id is None
        parent_id = run.info.run_id
        mlflow.set_tags(tracking.owner_tags())
        write_json({"fingerprint": fp, "parent_run_id": parent_id}, out_dir / STATE_FILE)
        if new_parent:
            mlflow.set_tags(
                {
                    **tracking.base_tags(cfg, "tune"),
                    **tracking.data_tags([train_path]),
                    **({"mlflow.parentRunId": launcher} if launcher else {}),
                    "model": model,
                    "dataset": dataset_dir.name,
                    "data_sha256": data_sha,
                }
            )
            tracking.log_windows_input(train_path, data, "training")
            mlflow.log_params(
                {
                    "model": model,
                    "dataset": dataset_dir.name,
                    "seed": cfg.tuning.seed,
                    "validation_fraction": cfg.tuning.validation_fraction,
                    "validation_gap_days": validation_gap_days(cfg),
                    "max_epochs": cfg.tuning.max_epochs,
                    "patience": cfg.tuning.patience,
                    "backend": cfg.tuning.backend,
                    "n_train": len(train),
                    "n_val": len(val),
                }
            )
        result = search(
            spec,
            train,
            val,
            max_evals=cfg.tuning.max_evals,
            seed=cfg.tuning.seed,
            max_epochs=cfg.tuning.max_epochs,
            patience=cfg.tuning.patience,
            trials=trials,
            nested_runs=True,
            no_progress_evals=cfg.tuning.no_progress_evals,
            on_trial=lambda t: save_trials(t, out_dir / TRIALS_FILE),
            backend=cfg.tuning.backend,
            spark=cfg.tuning.spark,
            trial_tags={**tracking.base_tags(cfg, "tune"), "dataset": dataset_dir.name},
        )
        mlflow.log_metrics(
            {"best_loss": result.best_loss, "n_trials": result.n_trials,
             "max_evals": cfg.tuning.max_evals}
        )
        mlflow.log_dict(result.best_params, "best_params.json")

    save_trials(result.trials, out_dir / TRIALS_FILE)
    write_json(result.best_params, out_dir / BEST_PARAMS_FILE)
    write_json(
        {
            "model": model,
            "dataset": dataset_dir.name,
            "parent_run_id": parent_id,
            "n_trials": result.n_trials,
            "n_new_trials": result.n_new,
            "max_evals": cfg.tuning.max_evals,
            "stopped_without_progress": no_progress(result.trials, cfg.tuning.no_progress_evals),
            "best_loss": result.best_loss,
            "best_val_f1_weighted": -result.best_loss,
            "best_trial": int(result.trials.best_trial["tid"]),
        },
        out_dir / SEARCH_FILE,
    )
    print(
        f"tune {model}: {result.n_trials} trials ({result.n_new} new, {result.seconds:.0f} s), "
        f"best val F1 {-result.best_loss:.4f} -> {out_dir / BEST_PARAMS_FILE}",
        file=sys.stderr,
    )
