"""The ``transfer`` kind: the base model (DEMETER) fine-tuned on CSES, all layers trainable,
the scaling re-adapted to the new windows (the paper's transfer step), at the learning rate of
``train.fine_tune_learning_rates`` that validation prefers."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from seqnetquake.config import Config
from seqnetquake.contracts import RUN_RECORD_FILE, TEST_WINDOWS_FILE, TRAIN_WINDOWS_FILE
from seqnetquake.train.kinds import MODEL_DIR, Start
from seqnetquake.windowcheck import check_windows
from seqnetquake.windowset import WindowSet

BASE_STAGE = "base"  # models/base/: the model transfer starts from


def base_record(base_dir: Path) -> dict[str, str]:
    """The base model's MLflow run, for lineage tags. Outputs restored from the DVC cache (run
    cache, ``dvc exp apply``, ``checkout``) lack the record (.dvcignore): say so, not fail."""
    path = base_dir / RUN_RECORD_FILE
    if path.is_file():
        return json.loads(path.read_text())
    unknown = f"unknown ({path} absent: the base model was restored from the DVC cache)"
    return {"run_id": unknown, "model_uri": unknown}


def start(cfg: Config, models_dir: Path, ds_dir: Path, train: WindowSet,
          test: WindowSet) -> Start:
    """The base model loaded (seeded first), checked against these windows' T and channels."""
    from seqnetquake.models import load_classifier  # deferred: heavy (TensorFlow)
    from seqnetquake.models.families import seed_everything

    seed = cfg.train.seed
    base_dir = models_dir / BASE_STAGE
    # Loading builds the layers, Dropout's seed generators included: seed first, or
    # every fine-tuning run draws different dropout masks.
    seed_everything(seed)
    clf = load_classifier(base_dir / MODEL_DIR)
    for split, name in ((train, TRAIN_WINDOWS_FILE), (test, TEST_WINDOWS_FILE)):
        # the base model's window length and channels
        check_windows(split.X, T=clf.T, channels=cfg.windows.features[: clf.F],
                      source=str(ds_dir / name))
    base_run = base_record(base_dir)
    tune = functools.partial(fine_tune_chosen, clf, base_dir, cfg.train.fine_tune_learning_rates,
                             max_epochs=cfg.train.fine_tune_epochs,
                             patience=cfg.train.fine_tune_patience, seed=seed)
    return Start(
        clf, dict(clf.hyperparams), fit=tune,
        params={"max_epochs": cfg.train.fine_tune_epochs,
                "patience": cfg.train.fine_tune_patience,
                "learning_rates": list(cfg.train.fine_tune_learning_rates),
                "readapt_scaling": True, "trainable_layers": "all"},
        tags={"base_run_id": base_run["run_id"], "base_model_uri": base_run["model_uri"],
              "base_dataset": cfg.train.base_dataset},
        inputs=[base_dir],
    )


def fine_tune_chosen(clf: Any, base_dir: Path, rates: list[float], fit_set: WindowSet,
                     val: WindowSet, *, max_epochs: int, patience: int, seed: int) -> Any:
    """Fine-tune ``clf`` (the loaded base) at the learning rate with the best validation MCC.

    Each candidate starts from a fresh copy of the base; a base that learnt little (a short
    DEMETER period) needs a larger step than one that only has to adapt, and validation, not
    the test set, says which. The chosen rate and each candidate's MCC go to the MLflow run.
    """
    import mlflow  # deferred: heavy
    from sklearn.metrics import matthews_corrcoef

    from seqnetquake.models import load_classifier  # deferred: heavy (TensorFlow)
    from seqnetquake.models.families import seed_everything

    def tuned(model: Any, rate: float) -> Any:
        return model.fine_tune(fit_set, val, max_epochs=max_epochs, patience=patience,
                               learning_rate=rate, seed=seed, readapt_scaling=True)

    best, best_mcc = rates[0], -np.inf
    if len(rates) > 1:
        for rate in rates:
            seed_everything(seed)
            candidate = load_classifier(base_dir / MODEL_DIR)
            tuned(candidate, rate)
            mcc = float(matthews_corrcoef(val.y, candidate.predict_proba(val.X).argmax(axis=1)))
            print(f"transfer: learning rate {rate:g}: validation MCC {mcc:.3f}", flush=True)
            mlflow.log_metric(f"val_mcc_at_lr_{rate:g}", mcc)
            if mcc > best_mcc:
                best, best_mcc = rate, mcc
    mlflow.log_param("learning_rate", best)
    return tuned(clf, best)  # from the same fresh base and seed: the chosen candidate again
