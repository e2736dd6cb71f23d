"""Training stages on tiny window sets: outputs, transfer learning, lineage, atomicity, and the
registered transfer model served through ``models:/seqnetquake-cses@champion``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from seqnetquake import registry, train
from seqnetquake.windowset import fit_validation_split, load_windows
from tiny_windows import RF_HP, SEQNETQUAKE_HP, write_dataset

pytestmark = pytest.mark.slow


@pytest.fixture
def workspace(tmp_path, cfg, monkeypatch, mlflow_uri):
    """A repository-like folder: tiny datasets 11 and 07, tuned params, a dvc.lock."""
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))  # repo_root(): where dvc.lock is read
    data, tuning = tmp_path / "data" / "processed", tmp_path / "models" / "tuning"
    write_dataset(data / cfg.train.base_dataset, seed=1)
    write_dataset(data / cfg.train.target_dataset, seed=2)
    for name, params in (("seqnetquake", SEQNETQUAKE_HP), ("rf", RF_HP)):
        (tuning / name).mkdir(parents=True)
        (tuning / name / "best_params.json").write_text(json.dumps(params))
    lock = {"schema": "2.0", "stages": {
        f"windows@{cfg.train.target_dataset}": {"outs": [
            {"path": f"data/processed/{cfg.train.target_dataset}/train.npz", "md5": "a" * 32},
            {"path": f"data/processed/{cfg.train.target_dataset}/test.npz", "md5": "b" * 32}]},
        "tune@seqnetquake": {"outs": [{"path": "models/tuning/seqnetquake", "md5": "c.dir"}]},
    }}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    small = cfg.train.model_copy(update={"max_epochs": 4, "patience": 2, "fine_tune_epochs": 3,
                                         "fine_tune_patience": 1})
    return tmp_path, cfg.model_copy(update={"train": small})


def cses_model_uri(root):
    return json.loads((root / "models/transfer/mlflow.json").read_text())["model_uri"]


def _run(root, cfg, kind, model=None):
    return train.run_stage(cfg, kind, model, data_dir=root / "data" / "processed",
                           models_dir=root / "models")


def test_base_transfer_register_and_serve(workspace):
    import mlflow

    from seqnetquake.models import load_classifier

    root, cfg = workspace
    # the validation windows: whole events, after a gap (windowset.fit_validation_split)
    fit, val = fit_validation_split(
        load_windows(root / "data/processed" / cfg.train.base_dataset / "train.npz"), cfg)
    assert 20 <= len(val) <= 40 and not set(fit.event_id) & set(val.event_id)
    assert val.t0.min() - fit.t0.max() >= np.timedelta64(
        int(cfg.tuning.validation_gap_days * 86400), "s")
    base_metrics = _run(root, cfg, "base")
    transfer_metrics = _run(root, cfg, "transfer")

    for stage, dataset in (("base", cfg.train.base_dataset),
                           ("transfer", cfg.train.target_dataset)):
        out = root / "models" / stage
        _, val = fit_validation_split(
            load_windows(root / "data/processed" / dataset / "train.npz"), cfg)
        assert {p.name for p in out.iterdir()} == {"model", "predictions.npz", "metrics.json",
                                                   "mlflow.json"}
        with np.load(out / "predictions.npz") as pred:
            assert pred["proba"].shape == (50, 3) and len(pred["proba_val"]) == len(val)
            np.testing.assert_array_equal(pred["event_id_val"], val.event_id)
            np.testing.assert_allclose(pred["proba"].sum(axis=1), 1, atol=1e-5)
    assert 0 < base_metrics["epochs"] <= 4 and transfer_metrics["epochs"] <= 3
    assert set(json.loads((root / "models/base/metrics.json").read_text())) >= {
        "test_mcc", "test_f1_weighted", "val_mcc", "test_eq_mcc", "test_eqa_mcc"}

    # Fine-tuning changed the weights of every trainable layer kind but not the architecture.
    base = load_classifier(root / "models/base/model").model
    tuned = load_classifier(root / "models/transfer/model").model
    assert [type(layer).__name__ for layer in base.layers] == [
        type(layer).__name__ for layer in tuned.layers]
    assert [w.shape for w in base.get_weights()] == [w.shape for w in tuned.get_weights()]
    changed = [not np.allclose(a, b) for a, b in zip(base.get_weights(), tuned.get_weights(),
                                                     strict=True)]
    assert sum(changed) >= len(changed) - 3  # all but, at most, a few untouched biases

    # The runs carry the lineage; the transfer run names its base run.
    runs = {r.data.tags["stage"]: r for r in mlflow.search_runs(
        experiment_names=[cfg.mlflow.experiment], output_format="list")}
    base_run = json.loads((root / "models/base/mlflow.json").read_text())["run_id"]
    t_tags = runs["transfer"].data.tags
    assert t_tags["base_run_id"] == base_run and t_tags["dataset"] == cfg.train.target_dataset
    assert t_tags[f"dvc_md5/data/processed/{cfg.train.target_dataset}/train.npz"] == "a" * 32
    assert runs["train_base"].data.tags["dvc_md5/models/tuning/seqnetquake/best_params.json"] \
        == "c.dir"
    assert runs["train_base"].data.params["hp.lstm_units"] == "4"
    # fine-tuning stops on its own patience, training on the other
    assert runs["transfer"].data.params["patience"] == "1"
    assert runs["train_base"].data.params["patience"] == "2"

    # Register both; the transfer version knows its base version; champion serves raw windows.
    summary = registry.run_stage(cfg, root / "models", root / "reports" / "registry.json")
    cses = summary["models"][cfg.registry.transfer_model_name]
    assert cses["version"] == "1" and set(cses["aliases"]) == {"champion", "challenger"}
    version = mlflow.MlflowClient().get_model_version(cfg.registry.transfer_model_name, "1")
    assert version.tags["base_model_version"] == "1"
    assert float(version.tags["test_mcc"]) == pytest.approx(transfer_metrics["test_mcc"],
                                                            abs=1e-5)
    assert "git_commit" in version.tags
    # the gate is a validation metric; the metric tags are the validation and test headline
    assert summary["gate_metric"] == "val_mcc"
    assert cses["gate_value"] == pytest.approx(transfer_metrics["val_mcc"], abs=1e-5)
    assert {k for k in version.tags if k.startswith(("val_", "test_"))} == set(
        registry.METRIC_TAGS)
    # The windows the model saw are the run's dataset inputs, digest = DVC md5.
    inputs = {d.dataset.name: d.dataset.digest
              for d in runs["transfer"].inputs.dataset_inputs}
    assert inputs[f"windows-{cfg.train.target_dataset}-train"] == "a" * 32
    assert inputs[f"windows-{cfg.train.target_dataset}-test"] == "b" * 32
    # The MLmodel records the final folder as the classifier's source, not the .tmp one.
    flavor = mlflow.models.get_model_info(cses_model_uri(root)).flavors["python_function"]
    source = flavor["artifacts"]["classifier"]["uri"]
    assert source.endswith("models/transfer/model") and ".tmp" not in source
    linked = {m.key for m in mlflow.get_logged_model(
        cses_model_uri(root).split("/")[-1]).metrics}
    assert "test_mcc" in linked and not any(k.startswith("history.") for k in linked)
    assert flavor["config"] == {"T": 10, "channels": ["ne_cm3", "te_k"],
                                "half_orbit": cfg.datasets[cfg.train.target_dataset].half_orbit}
    assert version.tags[f"dvc_md5/data/processed/{cfg.train.target_dataset}/test.npz"] == "b" * 32
    test = load_windows(root / "data/processed" / cfg.train.target_dataset / "test.npz")
    model = mlflow.pyfunc.load_model(f"models:/{cfg.registry.transfer_model_name}@champion")
    proba = model.predict(test.X)
    assert proba.shape == (50, 3)
    with np.load(root / "models/transfer/predictions.npz") as pred:
        np.testing.assert_allclose(proba, pred["proba"], atol=1e-5)
    # Registering the same runs again changes nothing.
    first = json.loads((root / "reports" / "registry.json").read_text())
    again = registry.run_stage(cfg, root / "models", root / "reports" / "registry.json")
    entry = again["models"][cfg.registry.transfer_model_name]
    assert entry["version"] == "1" and entry["aliases"] == ["challenger", "champion"]
    # the summary (a committed DVC output) holds no run id or store path: identical again
    assert again == first and "run_id" not in json.dumps(again)


def test_baseline_stage_and_atomic_failure(workspace):
    import mlflow

    root, cfg = workspace
    metrics = _run(root, cfg, "baseline", "rf")
    out = root / "models" / "baselines" / "rf"
    assert (out / "model").is_dir() and metrics["test_accuracy"] > 0.5
    before = (out / "metrics.json").read_text()

    # A second run that fails inside training (scikit-learn rejects the criterion at fit)
    # leaves the previous complete output as it was, no temporary folder, and a FAILED run.
    bad = {**RF_HP, "criterion": "no-such-criterion"}
    (root / "models/tuning/rf/best_params.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError):
        _run(root, cfg, "baseline", "rf")
    assert (out / "metrics.json").read_text() == before
    assert [p.name for p in out.parent.iterdir()] == ["rf"]
    statuses = sorted(r.info.status for r in mlflow.search_runs(
        experiment_names=[cfg.mlflow.experiment], output_format="list"))
    assert statuses == ["FAILED", "FINISHED"]


def test_plan_rejects_unknown_and_mismatched(cfg, tmp_path):
    with pytest.raises(ValueError, match="needs --model"):
        train.plan(cfg, "baseline", None, tmp_path)
    with pytest.raises(ValueError, match="unknown training stage"):
        train.plan(cfg, "finetune", None, tmp_path)
    assert train.plan(cfg, "base", None, tmp_path).dataset == cfg.train.base_dataset
    assert train.plan(cfg, "baseline", "gbm", tmp_path).out_dir == tmp_path / "baselines/gbm"


def test_direct_stage_is_deterministic(workspace):
    """Same params, same data, same seed: the same predictions, bit for bit (op determinism)."""
    root, cfg = workspace
    first = _run(root, cfg, "direct")
    with np.load(root / "models/direct/predictions.npz") as pred:
        proba = pred["proba"].copy()
    second = _run(root, cfg, "direct")
    with np.load(root / "models/direct/predictions.npz") as pred:
        np.testing.assert_array_equal(pred["proba"], proba)
    assert first["test_mcc"] == second["test_mcc"]


def test_transfer_stage_is_deterministic(workspace):
    """Fine-tuning a loaded model: dropout seeds are set before the layers are rebuilt."""
    root, cfg = workspace
    _run(root, cfg, "base")
    probas = []
    for _ in range(2):
        _run(root, cfg, "transfer")
        with np.load(root / "models/transfer/predictions.npz") as pred:
            probas.append(pred["proba"].copy())
    np.testing.assert_array_equal(probas[0], probas[1])


def test_base_record_of_a_base_restored_from_the_dvc_cache(tmp_path):
    """.dvcignore keeps mlflow.json out of the cache: a restored base has none, and the
    transfer run says so in its lineage tags instead of failing."""
    from seqnetquake.train.transfer import base_record

    (tmp_path / "mlflow.json").write_text(json.dumps({"run_id": "abc", "model_uri": "m"}))
    assert base_record(tmp_path)["run_id"] == "abc"
    (tmp_path / "mlflow.json").unlink()
    record = base_record(tmp_path)
    assert record["run_id"].startswith("unknown (") and "DVC cache" in record["model_uri"]
