"""Tiny window sets for the training/registry tests: model_fixtures' learnable windows, with
events of both kinds so that the earthquake-level metrics have real and artificial events."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from model_fixtures import TINY_SEQNETQUAKE, save_npz
from model_fixtures import window_set as _window_set
from seqnetquake.windowset import WindowSet

T = 10
SEQNETQUAKE_HP = {**TINY_SEQNETQUAKE, "cnn_layers": 1, "lstm_units": 4}
RF_HP = {
    "max_depth": 4, "max_features": 2, "n_estimators": 8, "min_samples_split": 2,
    "min_samples_leaf": 1, "max_leaf_nodes": 16, "min_weight_fraction_leaf": 0.0,
    "criterion": "gini", "bootstrap": True,
}


def window_set(n: int, seed: int, start: int = 0) -> WindowSet:
    """n windows of T x 2; class-0 windows belong to artificial events ``art-cses-N``, the
    others (storm windows included) to real events ``usN``, as the windows stage labels them."""
    ws = _window_set(n, T, seed=seed, start=start)
    event = (start + np.arange(n)) // 5
    event_id = np.where(ws.y == 0, np.char.add("art-cses-", event.astype(str)),
                        np.char.add("us", event.astype(str)))
    return dataclasses.replace(ws, event_id=event_id.astype(str))


def write_dataset(directory: Path, seed: int, n_train: int = 150, n_test: int = 50) -> None:
    """``directory/{train,test}.npz``; the test windows come after the training windows."""
    save_npz(window_set(n_train, seed), directory / "train.npz")
    save_npz(window_set(n_test, seed + 1000, start=n_train), directory / "test.npz")
