"""The run every training stage shares: load the windows, cut validation, train the kind's
model (train/scratch.py, train/transfer.py), predict, write ``models/<stage>/``, log one MLflow
run with the pyfunc model."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from seqnetquake import tracking
from seqnetquake.config import Config
from seqnetquake.contracts import (
    PREDICTIONS_FILE,
    RUN_RECORD_FILE,
    STAGE_METRICS_FILE,
    TEST_WINDOWS_FILE,
    TRAIN_WINDOWS_FILE,
)
from seqnetquake.fileio import atomic_path, remove_stale_temporaries
from seqnetquake.metrics import all_metrics, json_safe, window_metrics, without_nan
from seqnetquake.predictions import Predictions
from seqnetquake.train.kinds import MODEL_DIR, StagePlan, Start, plan
from seqnetquake.train.scratch import start as start_from_scratch
from seqnetquake.train.transfer import start as start_from_base
from seqnetquake.windowcheck import needs_background
from seqnetquake.windowset import (
    WindowSet,
    fit_validation_split,
    load_dataset,
    validation_gap_days,
)


def predictions(clf: Any, test: WindowSet, val: WindowSet) -> Predictions:
    return Predictions(
        proba=np.asarray(clf.predict_proba(test.X), dtype=np.float32), y=test.y,
        event_id=test.event_id, t0=test.t0,
        proba_val=np.asarray(clf.predict_proba(val.X), dtype=np.float32), y_val=val.y,
        event_id_val=val.event_id,
    )


def stage_metrics(pred: Predictions, epochs: int, seconds: float) -> dict[str, float]:
    """``test_*`` (window and earthquake level) and ``val_*`` (window level) metrics."""
    test = {f"test_{k}": v for k, v in all_metrics(pred).items()}
    val = {f"val_{k}": v for k, v in window_metrics(pred.y_val, pred.proba_val).items()}
    return {**test, **val, "epochs": float(epochs), "fit_seconds": float(seconds)}


def run_stage(
    cfg: Config,
    kind: str,
    model: str | None = None,
    *,
    data_dir: str | Path = "data/processed",
    models_dir: str | Path = "models",
    tuning_dir: str | Path | None = None,
    study: tuple[str, Path] | None = None,
) -> dict[str, float]:
    """Train one stage, write ``models/<stage>/`` atomically, log one MLflow run.

    ``study=(dataset, out_dir)``: the study's direct training of ``model`` on another dataset
    (stage ``study_train``, seqnetquake.study), with the hyper-parameters in ``tuning_dir``.
    """
    data_dir, models_dir = Path(data_dir), Path(models_dir)
    tuning_dir = Path(tuning_dir) if tuning_dir else models_dir / "tuning"
    p = plan(cfg, kind, model, models_dir, study)
    remove_stale_temporaries(p.out_dir)  # a killed earlier run's `.<stage>.*.tmp`
    ds_dir = data_dir / p.dataset
    train, test = load_dataset(ds_dir, channels=cfg.windows.features)
    fit_set, val = fit_validation_split(train, cfg)

    params: dict[str, Any] = {
        "model": p.model, "dataset": p.dataset, "seed": cfg.train.seed, "n_train": len(fit_set),
        "n_val": len(val), "n_test": len(test),
        "validation_fraction": cfg.tuning.validation_fraction,
        "validation_gap_days": validation_gap_days(cfg),
    }
    if p.kind == "transfer":
        begin = start_from_base(cfg, models_dir, ds_dir, train, test)
    else:  # base, direct, baseline
        begin = start_from_scratch(cfg, p, train, tuning_dir)
    inputs = [ds_dir / TRAIN_WINDOWS_FILE, ds_dir / TEST_WINDOWS_FILE, *begin.inputs]
    tags = {"model": p.model, "dataset": p.dataset, "kind": p.kind} | begin.tags
    tags |= tracking.data_tags(inputs)
    params |= begin.params
    return train_and_log(cfg, p, begin, ds_dir, (train, test, fit_set, val), params, tags)


def train_and_log(cfg: Config, p: StagePlan, begin: Start, ds_dir: Path,
                  splits: tuple[WindowSet, WindowSet, WindowSet, WindowSet],
                  params: dict[str, Any], tags: dict[str, str]) -> dict[str, float]:
    """Fit, predict and write ``models/<stage>/`` inside one MLflow run; then the pyfunc model
    and ``mlflow.json``. Returns the metrics."""
    import mlflow  # deferred: heavy

    from seqnetquake.serving import log_classifier  # deferred: heavy (MLflow pyfunc)

    train, test, fit_set, val = splits
    clf = begin.clf
    with tracking.stage_run(cfg, p.stage, params={**params, "hp": begin.hyperparams}, tags=tags,
                            run_name=p.run_name) as run, atomic_path(p.out_dir) as tmp:
        tmp.mkdir(parents=True)
        tracking.log_windows_input(ds_dir / TRAIN_WINDOWS_FILE, train, "training")
        tracking.log_windows_input(ds_dir / TEST_WINDOWS_FILE, test, "evaluation")
        start = time.perf_counter()
        result = begin.fit(fit_set, val)
        wall = time.perf_counter() - start
        pred = predictions(clf, test, val)
        metrics = stage_metrics(pred, result.epochs, result.seconds)
        for key, values in result.history.items():
            # Epochs from 1: MLflow links the run's step-0 metrics to the logged model, which
            # should show the final metrics, not the first epoch's loss.
            for step, value in enumerate(values, start=1):
                mlflow.log_metric(f"history.{key}", value, step=step)
        mlflow.log_metrics(without_nan(metrics) | {"wall_seconds": wall})

        clf.save(tmp / MODEL_DIR)
        pred.save(tmp / PREDICTIONS_FILE)
        # Timings stay on the MLflow run: metrics.json is a DVC output and must not change when
        # the results do not.
        (tmp / STAGE_METRICS_FILE).write_text(json.dumps(
            json_safe({k: v for k, v in metrics.items() if k != "fit_seconds"}),
            indent=2, sort_keys=True) + "\n")
        mlflow.log_artifact(str(tmp / STAGE_METRICS_FILE))
    # The pyfunc model is logged from the final folder (its MLmodel records where the
    # classifier came from, which must not be the .tmp folder), into the same run.
    with mlflow.start_run(run_id=run.info.run_id):
        info = log_classifier(p.out_dir / MODEL_DIR, test.X if len(test) else fit_set.X,
                              channels=list(cfg.windows.features),
                              half_orbit=cfg.datasets[p.dataset].half_orbit
                              if p.dataset in cfg.datasets else None,
                              background=cfg.background.model_dump(mode="json")
                              if needs_background(cfg.windows.features) else None)
    with atomic_path(p.out_dir / RUN_RECORD_FILE) as tmp:
        tmp.write_text(json.dumps({
            "run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
            "model_uri": info.model_uri, "tracking_uri": mlflow.get_tracking_uri(),
        }, indent=2) + "\n")
    return metrics
