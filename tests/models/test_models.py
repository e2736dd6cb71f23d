"""The model table: shapes for every model and T, scaling inside the model, save/load, transfer."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hyperopt.pyll.stochastic import sample

from model_fixtures import TINY_SEQNETQUAKE, window_set
from seqnetquake.models import MODELS, get_model, load_classifier
from seqnetquake.models.scaling import log_ne
from seqnetquake.models.seqnetquake import sub_sequences

T_VALUES = (10, 20, 30, 40, 50)
FAST_SKLEARN = {"gbm": {"n_estimators": 5}, "rf": {"n_estimators": 4}}


def test_table_has_the_papers_models():
    assert list(MODELS) == ["seqnetquake", "gbm", "dnn", "rf", "cnn", "lstm", "classical"]
    assert {s.family for s in MODELS.values()} == {"keras", "sklearn", "rule"}
    with pytest.raises(KeyError, match="known: seqnetquake"):
        get_model("svm")


@pytest.mark.parametrize(
    ("T", "requested", "expected"),
    [(20, 2, 2), (20, 4, 4), (20, 5, 5), (10, 4, 2), (10, 5, 2), (30, 4, 5), (40, 5, 5),
     (50, 4, 5), (13, 2, 1), (16, 5, 4)],
)
def test_sub_sequence_rule(T, requested, expected):
    n_sub = sub_sequences(T, requested)
    assert n_sub == expected and T % n_sub == 0 and T // n_sub >= 4


@pytest.mark.parametrize("name", list(MODELS))
def test_output_shapes_for_every_T(name):
    """Each model, with hyper-parameters drawn from its own space, maps (N, T, 2) to (N, 3)."""
    spec = MODELS[name]
    for i, T in enumerate(T_VALUES):
        params = {**sample(spec.space, rng=np.random.default_rng(i)), **FAST_SKLEARN.get(name, {})}
        clf = spec.build(params, T, 2)
        ws = window_set(30, T, seed=i)
        if spec.family in ("sklearn", "rule"):  # nothing to predict with before fitting
            clf.fit(ws, ws, max_epochs=1, patience=1, seed=0)
        else:
            assert clf.model.output_shape == (None, 3)
        proba = clf.predict_proba(ws.X)
        assert proba.shape == (30, 3) and np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
        with pytest.raises(ValueError, match=f"window length T = {T - 1}, the model expects"):
            clf.predict_proba(ws.X[:, :-1])
        broken = ws.X.copy()
        broken[1, 0, 1] = np.nan
        # named by the classifier's channel, not "channel 1"
        with pytest.raises(ValueError, match=r"X\[te_k\]: non-finite value nan at window 1, "
                                             "sample 0"):
            clf.predict_proba(broken)


def test_authors_architecture_builds_for_t20():
    """Their CNNBiLSTM: n_sub = 2 and 'valid' convolutions, the deepest stack still fits."""
    spec = get_model("seqnetquake")
    params = {**sample(spec.authors_space, rng=np.random.default_rng(0)),
              "cnn_layers": 4, "cnn_kernel": 3}
    assert spec.build(params, 20, 2).model.output_shape == (None, 3)


@pytest.fixture(scope="module")
def tiny_fitted():
    """One quickly trained SeqNetQuake (2 epochs) and its train/validation sets."""
    train, val = window_set(160, 20, seed=1), window_set(60, 20, seed=2, start=160)
    clf = get_model("seqnetquake").build(TINY_SEQNETQUAKE, 20, 2)
    fit = clf.fit(train, val, max_epochs=2, patience=1, seed=3)
    return clf, fit, train, val


def test_keras_fit_reports_epochs_and_history(tiny_fitted):
    _, fit, _, _ = tiny_fitted
    assert fit.epochs == 2 and fit.seconds > 0
    assert len(fit.history["loss"]) == len(fit.history["val_loss"]) == 2


def test_keras_scaling_is_inside_and_fitted_on_train_only(tiny_fitted):
    clf, _, train, val = tiny_fitted
    scale = clf.model.get_layer("scale")
    logged = log_ne(train.X).reshape(-1, 2)
    np.testing.assert_allclose(np.ravel(scale.mean), logged.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(np.ravel(scale.variance), logged.var(axis=0), rtol=1e-3)
    val_mean = log_ne(val.X).reshape(-1, 2).mean(axis=0)
    assert not np.allclose(np.ravel(scale.mean), val_mean, rtol=1e-4)
    proba = clf.predict_proba(val.X)  # raw Ne (cm^-3) and Te (K), exactly as in the npz
    assert proba.shape == (60, 3) and np.isfinite(proba).all()


def test_keras_save_load_round_trip(tiny_fitted, tmp_path):
    clf, _, _, val = tiny_fitted
    clf.save(tmp_path / "m")
    loaded = load_classifier(tmp_path / "m")
    assert loaded.name == "seqnetquake" and loaded.hyperparams == clf.hyperparams
    np.testing.assert_array_equal(loaded.predict_proba(val.X), clf.predict_proba(val.X))


def test_keras_saves_are_byte_identical(tiny_fitted, tmp_path):
    """model.keras carries no save time: equal weights, equal bytes (a stable DVC hash)."""
    import time

    clf, _, _, val = tiny_fitted
    clf.save(tmp_path / "a")
    time.sleep(2.1)  # zip timestamps have a 2 s resolution
    clf.save(tmp_path / "b")
    a, b = ((tmp_path / d / "model.keras").read_bytes() for d in "ab")
    assert a == b
    loaded = load_classifier(tmp_path / "b")
    np.testing.assert_array_equal(loaded.predict_proba(val.X), clf.predict_proba(val.X))


@pytest.mark.parametrize("name", ["seqnetquake", "rf"])
def test_saves_do_not_depend_on_object_ids(tmp_path, name):
    """Two models fitted alike (other objects, other id()s) save to the same bytes: Keras'
    shared_object_id and skops' __id__/<id>.npy are renumbered (a stable DVC hash)."""
    params = TINY_SEQNETQUAKE if name == "seqnetquake" else {"n_estimators": 5, "max_depth": 3}
    train, val = window_set(80, 20, seed=4), window_set(30, 20, seed=6, start=80)
    saved = []
    for run in "ab":
        keras.backend.clear_session()  # fresh layer-name counters, as in a new stage process
        clf = get_model(name).build(params, 20, 2)
        clf.fit(train, val, max_epochs=1, patience=1, seed=0)
        clf.save(tmp_path / run)
        saved.append({p.name: p.read_bytes() for p in (tmp_path / run).iterdir()})
    assert saved[0] == saved[1]
    np.testing.assert_array_equal(load_classifier(tmp_path / "b").predict_proba(val.X),
                                  clf.predict_proba(val.X))


def test_skops_trusts_exactly_what_the_project_saves(tmp_path):
    """The sklearn models save only the listed extra types; any other type is refused, even
    one under sklearn. (FunctionTransformer's function would run on load.)"""
    import skops.io
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.utils import _testing

    from seqnetquake.models.families import SKOPS_FILE, TRUSTED_TYPES

    train, test = window_set(80, 20, seed=4), window_set(20, 20, seed=5)
    seen = set()
    for name in ("rf", "gbm"):
        spec = get_model(name)
        params = {**sample(spec.space, rng=np.random.default_rng(2)), **FAST_SKLEARN[name]}
        clf = spec.build(params, 20, 2)
        clf.fit(train, test, max_epochs=1, patience=1, seed=0)
        clf.save(tmp_path / name)
        seen |= set(skops.io.get_untrusted_types(file=tmp_path / name / SKOPS_FILE))
    assert seen == set(TRUSTED_TYPES)
    # The same file with one hostile step added: refused before anything is built.
    clf.pipeline.steps.insert(0, ("hook", FunctionTransformer(func=_testing.assert_allclose)))
    skops.io.dump(clf.pipeline, tmp_path / "gbm" / SKOPS_FILE)
    with pytest.raises(ValueError, match="refusing to load untrusted types.*assert_allclose"):
        load_classifier(tmp_path / "gbm")


@pytest.mark.parametrize("name", ["rf", "gbm"])
def test_sklearn_pipeline_scaling_and_round_trip(name, tmp_path):
    train, test = window_set(120, 20, seed=4), window_set(40, 20, seed=5)
    spec = get_model(name)
    params = {**sample(spec.space, rng=np.random.default_rng(1)), **FAST_SKLEARN[name]}
    clf = spec.build(params, 20, 2)
    clf.fit(train, test, max_epochs=1, patience=1, seed=0)
    assert list(clf.pipeline.named_steps) == ["log_ne", "flatten", "scale", "clf"]
    np.testing.assert_allclose(
        clf.pipeline.named_steps["scale"].mean_, log_ne(train.X).reshape(120, -1).mean(axis=0)
    )
    clf.save(tmp_path / name)
    loaded = load_classifier(tmp_path / name)
    np.testing.assert_array_equal(loaded.predict_proba(test.X), clf.predict_proba(test.X))
    with pytest.raises(NotImplementedError):
        loaded.fine_tune(train, test, max_epochs=1, patience=1, learning_rate=1e-4, seed=0)


def test_fine_tune_continues_from_weights_and_readapts_scaling(tiny_fitted, tmp_path):
    clf, _, _, _ = tiny_fitted
    clf.save(tmp_path / "base")
    model = load_classifier(tmp_path / "base")  # as the transfer stage does
    before = [w.copy() for w in model.model.get_weights()]
    other = window_set(120, 20, seed=9)
    other.X[..., 0] *= 3.0  # another satellite's Ne level
    fit = model.fine_tune(other, window_set(40, 20, seed=10), max_epochs=1, patience=1,
                          learning_rate=1e-3, seed=0)
    assert fit.epochs == 1
    assert all(layer.trainable for layer in model.model.layers)
    expected = log_ne(other.X).reshape(-1, 2).mean(axis=0)
    np.testing.assert_allclose(np.ravel(model.model.get_layer("scale").mean), expected,
                               rtol=1e-4)
    after = model.model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_the_model_api_does_not_import_the_table():
    """models/base.py is below the table (models/table.py) and the package __init__: no cycle."""
    import ast
    from pathlib import Path

    import seqnetquake.models.base as base

    tree = ast.parse(Path(base.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and m.startswith("seqnetquake.models")}
