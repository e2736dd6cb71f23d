"""The classical detector (k-MAD residual rule): the rule, tuning space, JSON save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hyperopt.pyll import stochastic

from seqnetquake.models import MODELS, get_model, load_classifier
from seqnetquake.models.classical import longest_run
from seqnetquake.windowset import WindowSet

T = 20


def residual_windows(n: int = 300, seed: int = 0) -> WindowSet:
    """ne_z/te_z windows: class 1 has a run of 6 large Ne residuals, class 2 a warm Te."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=[0.6, 0.3, 0.1])  # storms are rare, as in the data
    X = rng.normal(0, 1, (n, T, 2))
    for i in np.flatnonzero(y == 1):
        s = rng.integers(0, T - 6)
        X[i, s:s + 6, 0] += 6.0
    X[y == 2, :, 1] += 4.0
    t0 = np.datetime64("2019-10-01", "ns") + np.arange(n) * np.timedelta64(90, "s")
    return WindowSet(X=X.astype(np.float32), y=y, event_id=np.full(n, ""), t0=t0,
                     lat=np.zeros(n), lon=np.zeros(n), half_orbit_id=np.arange(n) // 10,
                     channels=("ne_z", "te_z"))


def test_longest_run():
    mask = np.array([[0, 1, 1, 0, 1, 1, 1, 0], [0] * 8, [1] * 8], dtype=bool)
    assert longest_run(mask).tolist() == [3, 0, 8]


def test_rule_classifies_and_probabilities_follow_it():
    ws = residual_windows()
    clf = get_model("classical").build({"k": 3.0, "m": 4, "k_storm": 2.0}, T, 2)
    clf.fit(ws, ws, max_epochs=1, patience=1, seed=0)
    proba = clf.predict_proba(ws.X)
    assert proba.shape == (len(ws), 3)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == ws.y).mean() > 0.95
    # a longer required run than any window has: nothing is seismic
    strict = get_model("classical").build({"k": 3.0, "m": T + 1, "k_storm": 2.0}, T, 2)
    strict.fit(ws, ws, max_epochs=1, patience=1, seed=0)
    assert not (strict.predict(ws.X) == 1).any()


def test_in_the_table_with_a_tunable_space():
    spec = MODELS["classical"]
    assert len(MODELS) == 7
    sample = stochastic.sample(spec.space, rng=np.random.default_rng(0))
    assert set(sample) == {"k", "m", "k_storm"}
    assert isinstance(sample["m"], int) and 1 <= sample["m"] <= 20


def test_saved_as_json_and_reloaded(tmp_path):
    ws = residual_windows()
    clf = get_model("classical").build({"k": 2.5, "m": 3, "k_storm": 1.5}, T, 2)
    clf.fit(ws, ws, max_epochs=1, patience=1, seed=0)
    clf.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["classifier.json"]  # no pickle
    meta = json.loads((tmp_path / "classifier.json").read_text())
    assert meta["channels"] == ["ne_z", "te_z"]
    loaded = load_classifier(tmp_path)
    assert np.allclose(loaded.predict_proba(ws.X), clf.predict_proba(ws.X))
    meta["centre"] = [0.0]
    (tmp_path / "classifier.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="centre"):
        load_classifier(tmp_path)


def test_raw_channels_are_logged_before_the_rule():
    ws = residual_windows()
    raw = WindowSet(X=np.stack([10 ** (5 + 0.05 * ws.X[..., 0]), 1500 + 0 * ws.X[..., 1]],
                               axis=-1).astype(np.float32),
                    y=ws.y, event_id=ws.event_id, t0=ws.t0, lat=ws.lat, lon=ws.lon,
                    half_orbit_id=ws.half_orbit_id)
    clf = get_model("classical").build({"k": 3.0, "m": 4, "k_storm": 50.0}, T, 2)
    clf.fit(raw, raw, max_epochs=1, patience=1, seed=0)
    pred = clf.predict(raw.X)
    assert (pred[ws.y == 1] == 1).mean() > 0.9
    assert (pred[ws.y == 0] == 1).mean() < 0.1


def test_tuned_trained_and_loaded_by_the_pipeline(cfg, mlflow_uri, tmp_path, monkeypatch):
    """tune@classical then baselines@classical: the same stages as every other model."""
    from model_fixtures import write_dataset
    from seqnetquake import train, tuning
    from seqnetquake.config import MlflowConfig

    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    data = tmp_path / "data" / "processed"
    write_dataset(data / cfg.train.target_dataset)
    small = cfg.model_copy(update={
        "mlflow": MlflowConfig(experiment="classical-test"),
        "tuning": cfg.tuning.model_copy(update={"max_evals": 4}),
    })
    out = tmp_path / "models" / "tuning" / "classical"
    tuning.run_stage(small, "classical", data / cfg.train.target_dataset, out)
    best = json.loads((out / "best_params.json").read_text())
    assert set(best) == {"k", "m", "k_storm"} and isinstance(best["m"], int)
    metrics = train.run_stage(small, "baseline", "classical", data_dir=data,
                              models_dir=tmp_path / "models")
    model_dir = tmp_path / "models" / "baselines" / "classical"
    assert (model_dir / "predictions.npz").exists()
    assert sorted(p.name for p in (model_dir / "model").iterdir()) == ["classifier.json"]
    assert load_classifier(model_dir / "model").hyperparams == best
    assert -1 <= metrics["test_mcc"] <= 1 and "val_mcc" in metrics
