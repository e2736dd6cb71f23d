"""Training stages: DEMETER base, DEMETER -> CSES transfer, CSES direct, and the baselines.

Every stage trains with the tuned hyper-parameters (``models/tuning/<model>/best_params.json``,
from dataset 07's training split), validates on the last ``tuning.validation_fraction`` of its
training split cut chronologically by whole events with a gap (``windowset.fit_validation_split``;
never the test split), and writes ``models/<stage>/``
atomically:

- ``model/``: the classifier (:meth:`Classifier.save`; its scaling inside);
- ``predictions.npz``: test ``proba, y, event_id, t0`` and validation ``proba_val, y_val,
  event_id_val`` (the earthquake-level threshold is chosen on validation);
- ``metrics.json``: ``test_*`` and ``val_*`` metrics, epochs (fit time on the MLflow run);
- ``mlflow.json``: the run and the logged pyfunc model, for the register stage.

Each stage is one MLflow run with the hyper-parameters, metrics, the model (pyfunc), and
lineage tags (git commit, dataset, dvc.lock md5 of its inputs; the base run for transfer).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from seqnetquake.config import Config
from seqnetquake.evaluate import Predictions, all_metrics, window_metrics
from seqnetquake.windowcheck import check_windows, needs_background
from seqnetquake.windowset import (
    WindowSet,
    fit_validation_split,
    load_dataset,
    validation_gap_days,
)

Kind = Literal["base", "transfer", "direct", "baseline"]
KINDS: tuple[str, ...] = ("base", "transfer", "direct", "baseline")
SEQNETQUAKE = "seqnetquake"


@dataclass(frozen=True)
class StagePlan:
    """Which model, data and output directory one training stage uses."""

    kind: str
    model: str
    dataset: str
    out_dir: Path
    stage_name: str | None = None  # study_train: another stage trains the same kind

    @property
    def stage(self) -> str:
        """The dvc.yaml stage (and MLflow ``stage`` tag) this plan is."""
        if self.stage_name:
            return self.stage_name
        return {"base": "train_base", "baseline": "baselines"}.get(self.kind, self.kind)


def plan(cfg: Config, kind: str, model: str | None, models_dir: Path) -> StagePlan:
    """Resolve a stage; ``model`` is required for ``baseline`` and must be SeqNetQuake else."""
    if kind not in KINDS:
        raise ValueError(f"unknown training stage {kind!r}; one of {', '.join(KINDS)}")
    if kind == "baseline":
        if not model:
            raise ValueError("train baseline needs --model NAME "
                             f"(one of {', '.join(cfg.train.baselines)})")
        return StagePlan(kind, model, cfg.train.target_dataset, models_dir / "baselines" / model)
    if model not in (None, "", SEQNETQUAKE):
        raise ValueError(f"train {kind} trains {SEQNETQUAKE}, not {model!r}")
    dataset = cfg.train.base_dataset if kind == "base" else cfg.train.target_dataset
    return StagePlan(kind, SEQNETQUAKE, dataset, models_dir / kind)


def read_best_params(tuning_dir: Path, model: str) -> dict[str, Any]:
    """The tuned hyper-parameters of ``model`` (plain JSON written by the tune stage)."""
    from seqnetquake.errors import InputError

    path = tuning_dir / model / "best_params.json"
    try:
        params = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(path, "file", f"no tuned hyper-parameters: {exc}") from exc
    if not isinstance(params, dict):
        raise InputError(path, "file", "expected a JSON object of hyper-parameters")
    return params


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


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if v == v}


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
    import mlflow

    from seqnetquake import tracking
    from seqnetquake.fileio import atomic_path, remove_stale_temporaries
    from seqnetquake.models import get_model, load_classifier
    from seqnetquake.registry import log_classifier

    data_dir, models_dir = Path(data_dir), Path(models_dir)
    tuning_dir = Path(tuning_dir) if tuning_dir else models_dir / "tuning"
    p = plan(cfg, kind, model, models_dir)
    if study is not None:
        from dataclasses import replace

        p = replace(p, dataset=study[0], out_dir=Path(study[1]), stage_name="study_train")
    remove_stale_temporaries(p.out_dir)  # a killed earlier run's `.<stage>.*.tmp`
    ds_dir = data_dir / p.dataset
    train, test = load_dataset(ds_dir, channels=cfg.windows.features)
    fit_set, val = fit_validation_split(train, cfg)
    seed = cfg.train.seed

    inputs = [ds_dir / "train.npz", ds_dir / "test.npz"]
    tags = {"model": p.model, "dataset": p.dataset, "kind": p.kind}
    params: dict[str, Any] = {
        "model": p.model, "dataset": p.dataset, "seed": seed, "n_train": len(fit_set),
        "n_val": len(val), "n_test": len(test),
        "validation_fraction": cfg.tuning.validation_fraction,
        "validation_gap_days": validation_gap_days(cfg),
    }
    if p.kind == "transfer":
        from seqnetquake.models.families import seed_everything

        base_dir = models_dir / "base"
        # Loading builds the layers, Dropout's seed generators included: seed first, or
        # every fine-tuning run draws different dropout masks.
        seed_everything(seed)
        clf = load_classifier(base_dir / "model")
        for split in (train, test):  # the base model's window length and channels
            check_windows(split.X, T=clf.T, channels=cfg.windows.features[: clf.F],
                          source=str(ds_dir / ("train.npz" if split is train else "test.npz")))
        hyperparams = dict(clf.hyperparams)
        base_run = json.loads((base_dir / "mlflow.json").read_text())
        tags |= {"base_run_id": base_run["run_id"], "base_model_uri": base_run["model_uri"],
                 "base_dataset": cfg.train.base_dataset}
        inputs.append(base_dir)
        params |= {"max_epochs": cfg.train.fine_tune_epochs, "patience": cfg.train.patience,
                   "learning_rate": cfg.train.fine_tune_learning_rate,
                   "readapt_scaling": True, "trainable_layers": "all"}
    else:
        hyperparams = read_best_params(tuning_dir, p.model)
        clf = get_model(p.model).build(hyperparams, train.T, train.F)
        inputs.append(tuning_dir / p.model / "best_params.json")
        params |= {"max_epochs": cfg.train.max_epochs, "patience": cfg.train.patience}
    tags |= tracking.data_tags(inputs)

    run_name = f"baseline-{p.model}" if p.kind == "baseline" else p.stage
    if p.stage_name:
        run_name = f"{p.stage_name}-{p.dataset}-{p.model}"
    with tracking.stage_run(cfg, p.stage, params={**params, "hp": hyperparams}, tags=tags,
                            run_name=run_name) as run, atomic_path(p.out_dir) as tmp:
        tmp.mkdir(parents=True)
        tracking.log_windows_input(ds_dir / "train.npz", train, "training")
        tracking.log_windows_input(ds_dir / "test.npz", test, "evaluation")
        start = time.perf_counter()
        if p.kind == "transfer":
            result = clf.fine_tune(
                fit_set, val, max_epochs=cfg.train.fine_tune_epochs,
                patience=cfg.train.patience, learning_rate=cfg.train.fine_tune_learning_rate,
                seed=seed, readapt_scaling=True)
        else:
            result = clf.fit(fit_set, val, max_epochs=cfg.train.max_epochs,
                             patience=cfg.train.patience, seed=seed)
        wall = time.perf_counter() - start
        pred = predictions(clf, test, val)
        metrics = stage_metrics(pred, result.epochs, result.seconds)
        for key, values in result.history.items():
            # Epochs from 1: MLflow links the run's step-0 metrics to the logged model, which
            # should show the final metrics, not the first epoch's loss.
            for step, value in enumerate(values, start=1):
                mlflow.log_metric(f"history.{key}", value, step=step)
        mlflow.log_metrics(_finite(metrics) | {"wall_seconds": wall})

        clf.save(tmp / "model")
        pred.save(tmp / "predictions.npz")
        # Timings stay on the MLflow run: metrics.json is a DVC output and must not change when
        # the results do not.
        (tmp / "metrics.json").write_text(json.dumps(
            {k: (v if v == v else None) for k, v in metrics.items() if k != "fit_seconds"},
            indent=2, sort_keys=True) + "\n")
        mlflow.log_artifact(str(tmp / "metrics.json"))
    # The pyfunc model is logged from the final folder (its MLmodel records where the
    # classifier came from, which must not be the .tmp folder), into the same run.
    with mlflow.start_run(run_id=run.info.run_id):
        info = log_classifier(p.out_dir / "model", test.X if len(test) else fit_set.X,
                              channels=list(cfg.windows.features),
                              half_orbit=cfg.datasets[p.dataset].half_orbit
                              if p.dataset in cfg.datasets else None,
                              background=cfg.background.model_dump(mode="json")
                              if needs_background(cfg.windows.features) else None)
    with atomic_path(p.out_dir / "mlflow.json") as tmp:
        tmp.write_text(json.dumps({
            "run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
            "model_uri": info.model_uri, "tracking_uri": mlflow.get_tracking_uri(),
        }, indent=2) + "\n")
    return metrics
