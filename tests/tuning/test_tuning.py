"""Hyperopt searches: nested MLflow runs (sqlite store and a real server), resume, determinism."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from hyperopt import hp

from model_fixtures import TINY_SEQNETQUAKE, window_set, write_dataset
from seqnetquake.config import MlflowConfig
from seqnetquake.models import get_model
from seqnetquake.tuning import evaluate_params, run_stage, search, trials_from_json

TRIAL_METRICS = {"loss", "val_f1_weighted", "val_mcc", "val_accuracy", "epochs", "duration_s"}


def _cfg(cfg, max_evals: int, **tuning):
    """The repository's config with a small search and its own experiment."""
    return cfg.model_copy(
        update={
            "mlflow": MlflowConfig(experiment="tune-test"),
            "tuning": cfg.tuning.model_copy(update={"max_evals": max_evals, **tuning}),
        }
    )


def _children(client, parent_id: str):
    exp = client.get_experiment_by_name("tune-test").experiment_id
    return client.search_runs(
        [exp], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'", max_results=100
    )


def _trials(out: Path):
    return trials_from_json((out / "trials.json").read_text())


def _check_search(out: Path, n_trials: int) -> str:
    """Outputs exist, JSON is plain; the parent run has n_trials finished nested trial runs."""
    search_json = json.loads((out / "search.json").read_text())
    best = json.loads((out / "best_params.json").read_text())
    assert search_json["n_trials"] == n_trials and search_json["best_loss"] < 0
    assert isinstance(best["n_estimators"], int) and isinstance(best["bootstrap"], bool)
    client = mlflow.MlflowClient()
    parent = client.get_run(search_json["parent_run_id"])
    assert parent.data.tags["model"] == "rf" and parent.data.tags["dataset"] == "07"
    assert parent.data.tags["stage"] == "tune" and "git_commit" in parent.data.tags
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["n_trials"] == n_trials
    children = _children(client, parent.info.run_id)
    finished = [r for r in children if r.info.status == "FINISHED"]
    assert len(finished) == n_trials
    for run in finished:
        assert set(run.data.metrics) >= TRIAL_METRICS
        assert {"n_estimators", "criterion", "max_depth"} <= set(run.data.params)
    assert sorted(r.data.tags["trial"] for r in finished) == [str(i) for i in range(n_trials)]
    return parent.info.run_id


def test_search_nested_runs_in_sqlite_store(cfg, mlflow_uri, tmp_path):
    data = write_dataset(tmp_path / "07")
    run_stage(_cfg(cfg, 2), "rf", data, tmp_path / "out")
    _check_search(tmp_path / "out", 2)
    assert len(_trials(tmp_path / "out").trials) == 2


@pytest.fixture
def mlflow_server(tmp_path, monkeypatch):
    """A real ``mlflow server`` on 127.0.0.1 (free port, sqlite backend), stopped afterwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen(
        [str(exe), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {proc.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not become healthy within 90 s")
            time.sleep(0.5)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        yield uri
    finally:
        if mlflow.active_run():
            mlflow.end_run()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_search_nested_runs_against_mlflow_server(cfg, mlflow_server, tmp_path):
    data = write_dataset(tmp_path / "07")
    run_stage(_cfg(cfg, 2), "rf", data, tmp_path / "out")
    parent_id = _check_search(tmp_path / "out", 2)
    artifacts = [a.path for a in mlflow.MlflowClient().list_artifacts(parent_id)]
    assert "best_params.json" in artifacts


def test_interrupted_search_resumes_without_recomputing(cfg, mlflow_uri, tmp_path):
    data = write_dataset(tmp_path / "07")
    out = tmp_path / "out"
    run_stage(_cfg(cfg, 2), "rf", data, out)
    parent_id = json.loads((out / "search.json").read_text())["parent_run_id"]
    first = _trials(out)

    # A trial killed mid-run leaves its nested run RUNNING and never reaches trials.json.
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name("tune-test").experiment_id
    orphan = client.create_run(exp, tags={"mlflow.parentRunId": parent_id, "trial": "2"})
    assert client.get_run(orphan.info.run_id).info.status == "RUNNING"

    run_stage(_cfg(cfg, 3), "rf", data, out)
    summary = json.loads((out / "search.json").read_text())
    assert summary["parent_run_id"] == parent_id
    assert summary["n_trials"] == 3 and summary["n_new_trials"] == 1
    assert client.get_run(orphan.info.run_id).info.status == "KILLED"
    _check_search(out, 3)
    resumed = _trials(out)
    assert resumed.results[:2] == first.results  # the two old trials were not recomputed

    # ... and the resumed search proposes exactly what an uninterrupted one would have.
    run_stage(_cfg(cfg, 3), "rf", data, tmp_path / "straight")
    straight = _trials(tmp_path / "straight")
    assert [r["params"] for r in straight.results] == [r["params"] for r in resumed.results]


class _Payload:
    """Unpickling this writes a marker file: what a crafted trials.pkl would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "executed"))


def test_planted_pickle_is_never_executed(cfg, mlflow_uri, tmp_path):
    """A crafted trials.pkl beside resume.json (a DVC output can arrive by `dvc pull`) is
    ignored: nothing runs, and the search resumes from trials.json exactly."""
    import pickle

    data = write_dataset(tmp_path / "07")
    out = tmp_path / "out"
    run_stage(_cfg(cfg, 2), "rf", data, out)
    first = _trials(out)
    marker = tmp_path / "pwned"
    (out / "trials.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    run_stage(_cfg(cfg, 3), "rf", data, out)
    assert not marker.exists()
    summary = json.loads((out / "search.json").read_text())
    assert summary["n_trials"] == 3 and summary["n_new_trials"] == 1
    assert _trials(out).results[:2] == first.results
    # The JSON state round-trips exactly: datetimes and all.
    again = _trials(out)
    assert [t["book_time"] for t in again.trials] == [t["book_time"] for t in _trials(out).trials]
    assert isinstance(again.trials[0]["book_time"], __import__("datetime").datetime)


def test_corrupt_trials_json_is_one_line(cfg, mlflow_uri, tmp_path):
    from typer.testing import CliRunner

    from seqnetquake.cli import app

    data = write_dataset(tmp_path / "07")
    out = tmp_path / "out"
    run_stage(_cfg(cfg, 1), "rf", data, out)
    (out / "trials.json").write_text('{"format": 1, "trials": [{"tid": 0}]}')
    params = _params_file(cfg, tmp_path, max_evals=2)
    result = CliRunner().invoke(app, ["tune", "rf", "--dataset-dir", str(data), "--out-dir",
                                      str(out), "--params", str(params)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(f"error: {out / 'trials.json'}: "
                                                           "trials: not a saved search")


def _params_file(cfg, tmp_path: Path, **tuning) -> Path:
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    raw["tuning"].update(tuning)
    raw["mlflow"]["experiment"] = "tune-test"
    raw["windows"]["features"] = ["ne_cm3", "te_k"]  # the fixtures hold raw-channel windows
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    return params


def test_changed_settings_start_a_fresh_search(cfg, mlflow_uri, tmp_path):
    data = write_dataset(tmp_path / "07")
    out = tmp_path / "out"
    run_stage(_cfg(cfg, 1), "rf", data, out)
    old_parent = json.loads((out / "search.json").read_text())["parent_run_id"]
    run_stage(_cfg(cfg, 1, validation_fraction=0.3), "rf", data, out)
    summary = json.loads((out / "search.json").read_text())
    assert summary["parent_run_id"] != old_parent and summary["n_new_trials"] == 1


def test_cli_tune(cfg, mlflow_uri, tmp_path, repo_root):
    from typer.testing import CliRunner

    from seqnetquake.cli import app

    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["tuning"]["max_evals"] = 1
    raw["tuning"]["max_evals_by_model"] = {"rf": 2}  # a model's own budget wins
    raw["mlflow"]["experiment"] = "tune-test"
    raw["windows"]["features"] = ["ne_cm3", "te_k"]  # the fixtures hold raw-channel windows
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    data = write_dataset(tmp_path / "07")
    out = tmp_path / "models" / "tuning" / "rf"
    args = ["tune", "rf", "--dataset-dir", str(data), "--out-dir", str(out), "--params",
            str(params)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "search.json").read_text())
    assert summary["n_trials"] == 2 and summary["max_evals"] == 2
    bad = CliRunner().invoke(app, ["tune", "svm", "--params", str(params)])
    assert bad.exit_code == 2 and "seqnetquake, gbm" in bad.output


def test_keras_search_logs_epochs_in_nested_runs(mlflow_uri, tmp_path):
    """tuning.search with SeqNetQuake (a tiny space): early stopping, nested runs, curves."""
    mlflow.set_experiment("tune-test")
    train, val = window_set(120, 20, seed=1), window_set(40, 20, seed=2, start=120)
    space = {**TINY_SEQNETQUAKE, "lstm_units": hp.choice("lstm_units", [4, 8])}
    with mlflow.start_run() as parent:
        result = search(get_model("seqnetquake"), train, val, max_evals=2, seed=5,
                        max_epochs=2, patience=1, space=space, nested_runs=True)
    assert result.n_trials == 2 and result.best_params["lstm_units"] in (4, 8)
    children = _children(mlflow.MlflowClient(), parent.info.run_id)
    assert len(children) == 2
    for run in children:
        assert 1 <= run.data.metrics["epochs"] <= 2
        history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "epoch_val_loss")
        assert len(history) == run.data.metrics["epochs"]


@pytest.mark.parametrize("name", ["seqnetquake", "rf"])
def test_same_params_give_same_metrics_twice(name):
    """Seeded weights, shuffling and dropout plus TF op determinism on CPU (issue 5, item 8)."""
    train, val = window_set(120, 20, seed=1), window_set(40, 20, seed=2, start=120)
    spec = get_model(name)
    params = TINY_SEQNETQUAKE if name == "seqnetquake" else {
        "max_depth": 5, "max_features": 3, "n_estimators": 10, "min_samples_split": 2,
        "min_samples_leaf": 1, "max_leaf_nodes": 20, "min_weight_fraction_leaf": 0.1,
        "criterion": "gini", "bootstrap": True}
    runs = [evaluate_params(spec, params, train, val, max_epochs=2, patience=2, seed=11)
            for _ in range(2)]
    for key in ("loss", "f1_weighted", "mcc", "accuracy", "epochs"):
        assert runs[0][key] == runs[1][key]
    if name == "seqnetquake":
        assert runs[0]["history"]["loss"] == runs[1]["history"]["loss"]
    a, b = (spec.build(params, 20, 2) for _ in range(2))
    for clf in (a, b):
        clf.fit(train, val, max_epochs=2, patience=2, seed=11)
    np.testing.assert_array_equal(a.predict_proba(val.X), b.predict_proba(val.X))


def test_search_stops_when_no_progress():
    """no_progress_evals = 1: every trial but the last improved the best loss."""
    train, val = window_set(150, 20, seed=1), window_set(50, 20, seed=2, start=150)
    result = search(get_model("rf"), train, val, max_evals=6, seed=3, max_epochs=1,
                    patience=1, no_progress_evals=1)
    losses = [r["loss"] for r in result.trials.results]
    assert all(losses[k] < min(losses[:k]) for k in range(1, len(losses) - 1))
    assert len(losses) == 6 or losses[-1] >= min(losses[:-1])


def test_search_state_resumes_only_the_same_fingerprint(tmp_path):
    """resume.json + trials.json: the same fingerprint continues the trials under the saved
    parent run; another fingerprint (data, space or settings changed) starts afresh."""
    from hyperopt import Trials, fmin, tpe

    from seqnetquake.tuning import SearchState

    trials = Trials()
    fmin(lambda x: x**2, hp.uniform("x", -1, 1), algo=tpe.suggest, max_evals=2, trials=trials,
         rstate=np.random.default_rng(0), show_progressbar=False)
    state = SearchState.open(tmp_path / "s", "fp-a")
    assert state.trials is None and state.n_done == 0 and state.parent_run_id is None
    state.save_parent("run-1")
    state.save_trials(trials)
    again = SearchState.open(tmp_path / "s", "fp-a")
    assert again.n_done == 2 and again.parent_run_id == "run-1"
    assert again.trials.results == trials.results
    changed = SearchState.open(tmp_path / "s", "fp-b")
    assert changed.trials is None and changed.parent_run_id is None
