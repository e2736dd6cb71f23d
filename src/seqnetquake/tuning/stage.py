"""The tune stage: one model's search on a dataset's training split, under one parent MLflow run.

Run again after an interruption (or with a larger ``max_evals``) to continue the same search
under the same parent run (tuning/resume.py decides what continues). The pieces: the windows
(:class:`TuneData`), the parent run and its bookkeeping (:func:`open_parent`,
:func:`parent_run`, :func:`log_result`), the search (tuning/tpe.py), the outputs
(:func:`write_outputs`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from seqnetquake import tracking
from seqnetquake.config import Config
from seqnetquake.contracts import BEST_PARAMS_FILE, TRAIN_WINDOWS_FILE
from seqnetquake.fileio import write_json
from seqnetquake.tuning.resume import SEARCH_FILE, SearchState, file_sha256, fingerprint
from seqnetquake.tuning.tpe import search
from seqnetquake.tuning.trial import SearchResult, no_progress
from seqnetquake.windowset import (
    WindowSet,
    fit_validation_split,
    load_windows,
    validation_gap_days,
)


@dataclass(frozen=True)
class TuneData:
    """What a search reads: ``train.npz`` (never test.npz), cut into fit and validation."""

    dataset_dir: Path
    path: Path  # train.npz
    windows: WindowSet
    train: WindowSet  # the fit part
    val: WindowSet
    sha256: str

    @classmethod
    def load(cls, cfg: Config, dataset_dir: Path) -> TuneData:
        path = dataset_dir / TRAIN_WINDOWS_FILE
        windows = load_windows(path, channels=cfg.windows.features)  # never test.npz
        train, val = fit_validation_split(windows, cfg)
        return cls(dataset_dir, path, windows, train, val, file_sha256(path))


def run_stage(cfg: Config, model: str, dataset_dir: Path, out_dir: Path) -> None:
    """Tune ``model`` on ``dataset_dir/train.npz``; write best_params.json, trials.json,
    search.json to ``out_dir``. Run again after an interruption (or with a larger
    ``max_evals``) to continue the same search under the same parent MLflow run."""
    from seqnetquake.models import get_model  # deferred: heavy (TensorFlow)

    spec = get_model(model)
    data = TuneData.load(cfg, Path(dataset_dir))
    state = SearchState.open(Path(out_dir), fingerprint(cfg, model, spec.space, data.sha256))
    open_parent(cfg, state, model)
    with parent_run(cfg, state, model, data) as parent_id:
        result = search(
            spec,
            data.train,
            data.val,
            max_evals=cfg.tuning.evals_for(model),
            seed=cfg.tuning.seed,
            max_epochs=cfg.tuning.max_epochs,
            patience=cfg.tuning.patience,
            trials=state.trials,
            nested_runs=True,
            no_progress_evals=cfg.tuning.no_progress_evals,
            on_trial=state.save_trials,
            backend=cfg.tuning.backend,
            spark=cfg.tuning.spark,
            trial_tags={**tracking.base_tags(cfg, "tune"), "dataset": data.dataset_dir.name},
        )
        log_result(cfg, model, result)
    write_outputs(cfg, model, data, state, parent_id, result)


# --------------------------------------------------------------------------- MLflow bookkeeping
def open_parent(cfg: Config, state: SearchState, model: str) -> None:
    """Which parent run continues (the saved one, if this store still has it); other runs of
    this model's searches left RUNNING, and the interrupted search's trial runs, closed."""
    import mlflow  # deferred: heavy

    experiment_id = tracking.configure(cfg)
    client = mlflow.MlflowClient()
    parent_id = state.reattach(client, experiment_id)
    tracking.close_stale_runs(experiment_id, {"stage": "tune", "model": model}, exclude=parent_id)
    state.resume(client, experiment_id, model)


@contextlib.contextmanager
def parent_run(cfg: Config, state: SearchState, model: str, data: TuneData) -> Iterator[str]:
    """The search's parent run (the saved one, or a new one with the stage's tags, input and
    params); its id goes to resume.json at once."""
    import mlflow  # deferred: heavy

    parent_id = state.parent_run_id
    # Under `mlflow run` (MLproject) MLFLOW_RUN_ID names the launcher's run, which start_run
    # would otherwise take over: hang the search below it instead.
    launcher = tracking._launcher_run_id()
    with mlflow.start_run(run_id=parent_id, run_name=None if parent_id else f"tune-{model}") as run:
        mlflow.set_tags(tracking.owner_tags())
        state.save_parent(run.info.run_id)
        if parent_id is None:
            mlflow.set_tags(
                {
                    **tracking.base_tags(cfg, "tune"),
                    **tracking.data_tags([data.path]),
                    **({"mlflow.parentRunId": launcher} if launcher else {}),
                    "model": model,
                    "dataset": data.dataset_dir.name,
                    "data_sha256": data.sha256,
                }
            )
            tracking.log_windows_input(data.path, data.windows, "training")
            mlflow.log_params(
                {
                    "model": model,
                    "dataset": data.dataset_dir.name,
                    "seed": cfg.tuning.seed,
                    "validation_fraction": cfg.tuning.validation_fraction,
                    "validation_gap_days": validation_gap_days(cfg),
                    "max_epochs": cfg.tuning.max_epochs,
                    "patience": cfg.tuning.patience,
                    "backend": cfg.tuning.backend,
                    "n_train": len(data.train),
                    "n_val": len(data.val),
                }
            )
        yield run.info.run_id


def log_result(cfg: Config, model: str, result: SearchResult) -> None:
    """The search's outcome on the active parent run."""
    import mlflow  # deferred: heavy

    mlflow.log_metrics(
        {"best_loss": result.best_loss, "n_trials": result.n_trials,
         "max_evals": cfg.tuning.evals_for(model)}
    )
    mlflow.log_dict(result.best_params, BEST_PARAMS_FILE)


# --------------------------------------------------------------------------- outputs
def write_outputs(cfg: Config, model: str, data: TuneData, state: SearchState, parent_id: str,
                  result: SearchResult) -> None:
    """trials.json, best_params.json (what training reads) and search.json (the summary)."""
    out_dir = state.out_dir
    state.save_trials(result.trials)
    write_json(result.best_params, out_dir / BEST_PARAMS_FILE)
    write_json(
        {
            "model": model,
            "dataset": data.dataset_dir.name,
            "parent_run_id": parent_id,
            "n_trials": result.n_trials,
            "n_new_trials": result.n_new,
            "max_evals": cfg.tuning.evals_for(model),
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

