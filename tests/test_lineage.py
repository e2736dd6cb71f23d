"""MLflow lineage a user sees in the UI: trial runs tagged like stage runs, windows datasets as
run inputs, each model's plots on its own training run, the experiment opening on runs."""

from __future__ import annotations

import json

import mlflow
import yaml

from model_fixtures import write_dataset
from seqnetquake import evaluate, tracking, tuning


def test_trials_carry_stage_tags_and_search_logs_its_dataset(cfg, mlflow_uri, tmp_path):
    small = cfg.model_copy(update={
        "tuning": cfg.tuning.model_copy(update={"max_evals": 2}),
        "mlflow": cfg.mlflow.model_copy(update={"experiment": "lineage"})})
    data = write_dataset(tmp_path / "07")
    tuning.run_stage(small, "rf", data, tmp_path / "tuning" / "rf")
    runs = mlflow.search_runs(experiment_names=["lineage"], output_format="list")
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(trials) == 2
    for trial in trials:
        tags = trial.data.tags
        assert tags["stage"] == "tune" and tags["data_kind"] == cfg.data_kind
        assert tags["git_commit"] == parent.data.tags["git_commit"] and tags["dataset"] == "07"
    (given,) = parent.inputs.dataset_inputs
    assert given.dataset.name == "windows-07-train"
    assert given.dataset.digest == _md5(data / "train.npz")  # no dvc.lock: the file's md5
    assert {t.key: t.value for t in given.tags}["mlflow.data.context"] == "training"


def _md5(path):
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


def test_log_windows_input_prefers_the_dvc_lock_md5(tmp_path, mlflow_uri, monkeypatch):
    from seqnetquake.windowset import load_windows

    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    write_dataset(tmp_path / "data" / "processed" / "07")
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"w": {
        "outs": [{"path": "data/processed/07/test.npz", "md5": "f" * 32}]}}}))
    path = tmp_path / "data" / "processed" / "07" / "test.npz"
    mlflow.set_experiment("lineage-input")
    with mlflow.start_run() as run:
        tracking.log_windows_input(path, load_windows(path), "evaluation")
    (given,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert given.dataset.digest == "f" * 32


def test_each_model_plots_on_its_own_training_run(tmp_path, mlflow_uri):
    figures = tmp_path / "figures"
    figures.mkdir()
    run_ids = {}
    mlflow.set_experiment(experiment_id=mlflow.create_experiment(
        "lineage-plots", artifact_location=(tmp_path / "artifacts").as_uri()))
    for slug, folder in (("transfer", tmp_path / "transfer"),
                         ("cnn", tmp_path / "baselines" / "cnn")):
        folder.mkdir(parents=True)
        with mlflow.start_run() as run:
            pass
        run_ids[slug] = run.info.run_id
        (folder / "mlflow.json").write_text(json.dumps({"run_id": run.info.run_id}))
        for kind in ("confusion", "roc", "ternary"):
            (figures / f"{kind}_{slug}.png").write_bytes(b"\x89PNG fake")
    found = {"transfer": tmp_path / "transfer" / "predictions.npz",
             "baselines": {"cnn": tmp_path / "baselines" / "cnn" / "predictions.npz"}}
    assert evaluate.log_plots_to_training_runs(found, figures) == 6
    client = mlflow.MlflowClient()
    for slug, run_id in run_ids.items():
        names = {a.path for a in client.list_artifacts(run_id, "plots")}
        assert names == {f"plots/{k}_{slug}.png" for k in ("confusion", "roc", "ternary")}


def test_experiment_opens_in_the_model_training_view(cfg, mlflow_uri):
    experiment_id = tracking.configure(cfg)
    tags = mlflow.get_experiment(experiment_id).tags
    assert tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"
