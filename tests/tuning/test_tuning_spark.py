"""tuning.backend: spark (tuning/backends.py): SparkTrials on local[2] against the PostgreSQL
tracking server; nested runs logged by the workers; resume bookkeeping."""

from __future__ import annotations

import json
import shutil
import uuid

import mlflow
import pytest
from hyperopt import JOB_STATE_DONE, JOB_STATE_RUNNING

from model_fixtures import write_dataset
from seqnetquake.config import MlflowConfig, SparkConfig
from seqnetquake.tuning import close_orphans, run_stage
from seqnetquake.tuning.backends import contiguous_done


def test_contiguous_done_stops_at_the_first_unfinished_trial():
    docs = [{"tid": t, "state": s} for t, s in
            [(1, JOB_STATE_DONE), (0, JOB_STATE_DONE), (3, JOB_STATE_DONE), (2, JOB_STATE_RUNNING)]]
    assert [d["tid"] for d in contiguous_done(docs)] == [0, 1]
    assert contiguous_done([]) == []


def test_close_orphans_kills_runs_never_recorded(mlflow_uri):
    """A Spark trial whose worker finished but whose result never reached the saved trials."""
    client = mlflow.MlflowClient()
    exp = client.create_experiment("orphans")
    parent = client.create_run(exp).info.run_id
    kept = client.create_run(exp, tags={"mlflow.parentRunId": parent, "trial": "0"}).info.run_id
    late = client.create_run(exp, tags={"mlflow.parentRunId": parent, "trial": "2"}).info.run_id
    unnamed = client.create_run(exp, tags={"mlflow.parentRunId": parent}).info.run_id
    running = client.create_run(exp, tags={"mlflow.parentRunId": parent}).info.run_id
    for run_id in (kept, late, unnamed):
        client.set_terminated(run_id, "FINISHED")
    assert close_orphans(client, exp, parent, n_done=1) == 3
    status = {r: client.get_run(r).info.status for r in (kept, late, unnamed, running)}
    assert status == {kept: "FINISHED", late: "KILLED", unnamed: "KILLED", running: "KILLED"}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java 17")
def test_spark_search_against_the_server_nests_every_trial(cfg, tracking_server, tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    experiment = f"spark-{uuid.uuid4().hex[:8]}"

    def config(max_evals):
        return cfg.model_copy(update={
            "mlflow": MlflowConfig(experiment=experiment),
            "tuning": cfg.tuning.model_copy(update={
                "max_evals": max_evals, "backend": "spark",
                "spark": SparkConfig(master="local[2]", parallelism=2)}),
        })

    data = write_dataset(tmp_path / "07")
    out = tmp_path / "out"
    run_stage(config(4), "rf", data, out)
    summary = json.loads((out / "search.json").read_text())
    assert summary["n_trials"] == 4 and summary["n_new_trials"] == 4
    best = json.loads((out / "best_params.json").read_text())
    assert isinstance(best["n_estimators"], int)

    # Extended: the same parent continues with the saved trials, one more Spark round.
    run_stage(config(6), "rf", data, out)
    again = json.loads((out / "search.json").read_text())
    assert again["parent_run_id"] == summary["parent_run_id"]
    assert again["n_trials"] == 6 and again["n_new_trials"] == 2

    mlflow.set_tracking_uri(tracking_server)
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(experiment).experiment_id
    runs = client.search_runs([exp], max_results=1000)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")
                == summary["parent_run_id"]]
    assert len(children) == 6 and {r.info.status for r in children} == {"FINISHED"}
    assert sorted(int(r.data.tags["trial"]) for r in children) == list(range(6))
    assert sorted(r.info.run_name for r in children) == [f"trial-{i:03d}" for i in range(6)]
    for run in children:  # logged by the worker: metrics and hyper-parameters
        assert {"val_mcc", "val_f1_weighted", "loss", "duration_s"} <= set(run.data.metrics)
        assert "n_estimators" in run.data.params
    parent = client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.params["backend"] == "spark"
    assert len(runs) == 7
