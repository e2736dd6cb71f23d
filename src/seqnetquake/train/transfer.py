"""The ``transfer`` kind: the base model (DEMETER) fine-tuned on CSES, all layers trainable,
the scaling re-adapted to the new windows (the paper's transfer step)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from seqnetquake.config import Config
from seqnetquake.contracts import RUN_RECORD_FILE, TEST_WINDOWS_FILE, TRAIN_WINDOWS_FILE
from seqnetquake.train.kinds import MODEL_DIR, Start
from seqnetquake.windowcheck import check_windows
from seqnetquake.windowset import WindowSet

BASE_STAGE = "base"  # models/base/: the model transfer starts from


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
    base_run = json.loads((base_dir / RUN_RECORD_FILE).read_text())
    return Start(
        clf, dict(clf.hyperparams),
        fit=functools.partial(
            clf.fine_tune, max_epochs=cfg.train.fine_tune_epochs, patience=cfg.train.patience,
            learning_rate=cfg.train.fine_tune_learning_rate, seed=seed, readapt_scaling=True),
        params={"max_epochs": cfg.train.fine_tune_epochs, "patience": cfg.train.patience,
                "learning_rate": cfg.train.fine_tune_learning_rate,
                "readapt_scaling": True, "trainable_layers": "all"},
        tags={"base_run_id": base_run["run_id"], "base_model_uri": base_run["model_uri"],
              "base_dataset": cfg.train.base_dataset},
        inputs=[base_dir],
    )
