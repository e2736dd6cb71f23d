"""Window channels as a param: residual channels through the windows stage and the models."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model_fixtures import TINY_SEQNETQUAKE, window_set
from seqnetquake import background
from seqnetquake.config import load_config
from seqnetquake.models import get_model, load_classifier
from seqnetquake.models.scaling import NO_FEATURE, log_ne, ne_index
from seqnetquake.windows import run_stage
from seqnetquake.windowset import load_dataset
from windows_fixtures import catalog, pass_, track

REPO = Path(__file__).resolve().parents[1]
EVENT_TIME = pd.Timestamp("2019-12-05T12:00:00", tz="UTC")


def test_ne_index_by_name():
    assert ne_index(["ne_cm3", "te_k"]) == 0
    assert ne_index(["te_k", "ne_cm3"]) == 1
    assert ne_index(["ne_resid", "te_z"]) == NO_FEATURE
    X = np.array([[[-0.2, 1.5]]])
    assert np.array_equal(log_ne(X, NO_FEATURE), X)  # signed residuals are not logged


def test_windows_stage_writes_residual_channels(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    cat = catalog([
        ("iscgem:1", EVENT_TIME, 0.0, 0.0, 6.0, "mainshock"),
        ("art-cses-00000", EVENT_TIME, 0.0, 90.0, 5.5, "artificial"),
    ])
    start = EVENT_TIME - pd.Timedelta(days=6)
    step = pd.Timedelta(hours=6)
    passes = []
    for i in range(24):  # 6 days, four passes a day over two sites
        lat0, lon = [(-0.5, 0.0), (-0.5, 90.0)][i % 2]
        passes.append(pass_(start + i * step, 60, lat0, lon, 10 * i + 1))
    tracks = track(*passes)
    tracks["ne_cm3"] *= np.random.default_rng(0).lognormal(0, 0.05, len(tracks))
    tracks_path, catalog_path = tmp_path / "tracks.parquet", tmp_path / "catalog.parquet"
    bg_path = tmp_path / "background.parquet"
    tracks.to_parquet(tracks_path, index=False)
    cat.to_parquet(catalog_path, index=False)
    cfg = load_config(REPO / "params.yaml")
    # two events over five days: no room for the default 15-day split gap (not what this tests)
    cfg = cfg.model_copy(update={"windows": cfg.windows.model_copy(
        update={"split_gap_days": 0.0})})
    background.run_stage(cfg, "cses", tracks_path, bg_path, tmp_path / "bg.json")

    resid = cfg.model_copy(update={"windows": cfg.windows.model_copy(
        update={"features": ["ne_z", "te_resid", "ne_detr"]})})
    run_stage(resid, "07", tracks_path, catalog_path, tmp_path / "z", background=bg_path)
    train, test = load_dataset(tmp_path / "z")
    assert train.channels == ("ne_z", "te_resid", "ne_detr") == test.channels
    with np.load(tmp_path / "z" / "train.npz") as data:
        assert data["channels"].tolist() == ["ne_z", "te_resid", "ne_detr"]
    assert np.isfinite(train.X).all() and (train.X[..., 0] < 0).any()  # signed
    manifest = json.loads((tmp_path / "z" / "manifest.json").read_text())
    assert manifest["channels"] == ["ne_z", "te_resid", "ne_detr"]
    assert len(manifest["inputs"]["background"]["md5"]) == 32

    raw = cfg.model_copy(update={"windows": cfg.windows.model_copy(
        update={"features": ["ne_cm3", "te_k"]})})
    run_stage(raw, "07", tracks_path, catalog_path, tmp_path / "raw")
    raw_train, raw_test = load_dataset(tmp_path / "raw")
    assert raw_train.channels == ("ne_cm3", "te_k")
    # the first day has no reference: fewer residual windows than raw ones
    assert len(train) + len(test) < len(raw_train) + len(raw_test)


@pytest.mark.parametrize("name", ["seqnetquake", "rf"])
def test_models_fit_signed_channels_and_keep_their_names(name, tmp_path):
    ws = window_set(120, 20, seed=1)
    X = np.log10(np.maximum(ws.X, 1.0)) - np.log10(np.maximum(ws.X, 1.0)).mean(axis=(0, 1))
    ws = dataclasses.replace(ws, X=X.astype(np.float32), channels=("ne_resid", "te_resid"))
    params = TINY_SEQNETQUAKE if name == "seqnetquake" else {"n_estimators": 10}
    clf = get_model(name).build(params, 20, 2)
    clf.fit(ws, ws, max_epochs=2, patience=1, seed=0)
    proba = clf.predict_proba(ws.X)
    assert np.isfinite(proba).all()
    clf.save(tmp_path)
    assert json.loads((tmp_path / "classifier.json").read_text())["channels"] == [
        "ne_resid", "te_resid"]
    loaded = load_classifier(tmp_path)
    assert loaded.channels == ("ne_resid", "te_resid")
    assert np.allclose(loaded.predict_proba(ws.X), proba, atol=1e-5)


def test_fine_tuning_refuses_other_channels():
    ws = window_set(60, 20, seed=1)
    clf = get_model("seqnetquake").build(TINY_SEQNETQUAKE, 20, 2)
    clf.fit(ws, ws, max_epochs=1, patience=1, seed=0)
    z = dataclasses.replace(ws, channels=("ne_z", "te_z"))
    with pytest.raises(ValueError, match="channels"):
        clf.fine_tune(z, z, max_epochs=1, patience=1, learning_rate=1e-4, seed=0)
