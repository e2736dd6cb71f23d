"""Training from scratch with the tuned hyper-parameters: the ``base``, ``direct`` and
``baseline`` kinds (they differ only in model and data, which train/kinds.py resolves)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from seqnetquake.config import Config
from seqnetquake.contracts import BEST_PARAMS_FILE
from seqnetquake.errors import InputError
from seqnetquake.train.kinds import StagePlan, Start
from seqnetquake.windowset import WindowSet


def read_best_params(tuning_dir: Path, model: str) -> dict[str, Any]:
    """The tuned hyper-parameters of ``model`` (plain JSON written by the tune stage)."""
    path = tuning_dir / model / BEST_PARAMS_FILE
    try:
        params = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(path, "file", f"no tuned hyper-parameters: {exc}") from exc
    if not isinstance(params, dict):
        raise InputError(path, "file", "expected a JSON object of hyper-parameters")
    return params


def start(cfg: Config, p: StagePlan, train: WindowSet, tuning_dir: Path) -> Start:
    """A fresh model of the tuned hyper-parameters, fitted with early stopping."""
    from seqnetquake.models import get_model  # deferred: heavy (TensorFlow)

    hyperparams = read_best_params(tuning_dir, p.model)
    clf = get_model(p.model).build(hyperparams, train.T, train.F)
    return Start(
        clf, hyperparams,
        fit=functools.partial(clf.fit, max_epochs=cfg.train.max_epochs,
                              patience=cfg.train.patience, seed=cfg.train.seed),
        params={"max_epochs": cfg.train.max_epochs, "patience": cfg.train.patience},
        inputs=[tuning_dir / p.model / BEST_PARAMS_FILE],
    )
