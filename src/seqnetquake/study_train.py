"""The study's per-dataset training (stage ``study_train@<ds>`` of study/dvc.yaml).

SeqNetQuake, and ``study.baselines``, trained directly on one dataset with the train package's
direct training, into ``models/study/<ds>/<model>/``: with 07's tuned hyper-parameters
(``study.hyperparameters: tuned_07``, models/tuning) or a Hyperopt search of their own on the
dataset's training split (``tune_each``, the tuning section's protocol, into
``models/study/<ds>/tuning/``). Prints and writes (``timing.json``) where the time goes. Kept
apart from the report (study.py) so that a change to the report never retrains a dataset.

It runs two stages (tune, train) per dataset, as the command line does: a composition above
them, not their sibling.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from seqnetquake import train, tuning
from seqnetquake.config import Config
from seqnetquake.fileio import write_json
from seqnetquake.paths import LAYOUT
from seqnetquake.train import SEQNETQUAKE


def train_dataset(cfg: Config, dataset: str, *, data_dir: str | Path = LAYOUT.processed_dir,
                  models_dir: str | Path = LAYOUT.models_dir) -> dict[str, dict[str, float]]:
    """Train the study's models on ``dataset`` into ``models/study/<dataset>/<model>/``.

    Returns (and writes to ``timing.json``) the seconds each model spent tuning and training.
    """
    if dataset not in cfg.datasets:
        raise ValueError(f"unknown dataset {dataset!r}; params.yaml datasets has "
                         f"{', '.join(cfg.datasets)}")
    data_dir, models_dir = Path(data_dir), Path(models_dir)
    out = models_dir / "study" / dataset
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, dict[str, float]] = {}
    for model in cfg.study.models():
        seconds: dict[str, float] = {}
        tuning_dir = models_dir / "tuning"
        if cfg.study.hyperparameters == "tune_each":
            tuning_dir = out / "tuning"
            start = time.perf_counter()
            tuning.run_stage(cfg, model, data_dir / dataset, tuning_dir / model)
            seconds["tune_s"] = time.perf_counter() - start
        start = time.perf_counter()
        kind = "direct" if model == SEQNETQUAKE else "baseline"
        metrics = train.run_stage(cfg, kind, model, data_dir=data_dir, models_dir=models_dir,
                                  tuning_dir=tuning_dir, study=(dataset, out / model))
        seconds["train_s"] = time.perf_counter() - start
        seconds["fit_s"] = float(metrics.get("fit_seconds", math.nan))
        timing[model] = seconds
        print(f"study_train {dataset} {model}: " + ", ".join(
            f"{k} {v:.1f}" for k, v in seconds.items())
            + f"; test MCC {metrics['test_mcc']:.4f}", flush=True)
    write_json(timing, out / "timing.json")
    return timing
