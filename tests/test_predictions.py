"""predictions.npz, the training stages' output format, and where the stages put it."""

from __future__ import annotations

import numpy as np

from seqnetquake.predictions import Predictions, stage_predictions


def _predictions(n: int = 5) -> Predictions:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1, 1], n).astype(np.float32)
    return Predictions(proba=proba, y=np.arange(n) % 3, event_id=np.array(["us1"] * n),
                       t0=np.arange(n).astype("datetime64[ns]"), proba_val=proba[:2],
                       y_val=np.array([0, 1]), event_id_val=np.array(["", "art-cses-1"]))


def test_save_load_round_trip(tmp_path):
    pred = _predictions()
    pred.save(tmp_path / "predictions.npz")
    back = Predictions.load(tmp_path / "predictions.npz")
    for name in Predictions.__dataclass_fields__:
        a, b = getattr(pred, name), getattr(back, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name


def test_stage_predictions_finds_stages_and_baselines(tmp_path):
    for stage in ("transfer", "base", "baselines/rf", "baselines/cnn", "unknown"):
        (tmp_path / stage).mkdir(parents=True)
        _predictions().save(tmp_path / stage / "predictions.npz")
    found = stage_predictions(tmp_path)
    assert list(found) == ["base", "transfer", "baselines"]  # STAGE_MODELS order
    assert list(found["baselines"]) == ["cnn", "rf"]
    assert stage_predictions(tmp_path / "none") == {}
