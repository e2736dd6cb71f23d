"""The PostgreSQL-backed tracking server: concurrent searches write every run (issue 11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import mlflow
import pytest
import yaml

from model_fixtures import write_dataset

pytestmark = pytest.mark.slow


def _params(repo_root: Path, tmp_path: Path, experiment: str, max_evals: int) -> Path:
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["mlflow"]["experiment"] = experiment
    raw["tuning"]["max_evals"] = max_evals
    raw["windows"]["features"] = ["ne_cm3", "te_k"]  # the fixtures hold raw-channel windows
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_two_searches_at_once_against_the_server_lose_no_run(tracking_server, tmp_path,
                                                             repo_root):
    n = 4
    experiment = f"concurrent-{uuid.uuid4().hex[:8]}"
    params = _params(repo_root, tmp_path, experiment, n)
    data = write_dataset(tmp_path / "07")
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_server,
           "PYTHONPATH": os.pathsep.join([str(repo_root / "src"), str(repo_root / "tests")])}
    exe = Path(sys.executable).with_name("seqnetquake")
    searches = {"a": "rf", "b": "rf"}  # the same search twice, each under its own parent
    procs = {
        name: subprocess.Popen(
            [str(exe), "tune", model, "--params", str(params), "--dataset-dir", str(data),
             "--out-dir", str(tmp_path / name)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, model in searches.items()
    }
    outputs = {name: proc.communicate(timeout=300)[0] for name, proc in procs.items()}
    for name, proc in procs.items():
        assert proc.returncode == 0, outputs[name][-2000:]

    mlflow.set_tracking_uri(tracking_server)
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    assert len(runs) == 2 * (n + 1)  # two parents, n trials each: nothing lost, nothing extra
    assert {r.info.status for r in runs} == {"FINISHED"}
    parents = set()
    for name, model in searches.items():
        summary = json.loads((tmp_path / name / "search.json").read_text())
        assert summary["n_trials"] == n
        parent = summary["parent_run_id"]
        parents.add(parent)
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]
        assert sorted(int(r.data.tags["trial"]) for r in children) == list(range(n))
        assert {r.data.tags["model"] for r in children} == {model}
        assert all("val_mcc" in r.data.metrics for r in children)
    assert len(parents) == 2
    # The two searches really overlapped in time (else this tests nothing concurrent).
    spans = {p: client.get_run(p).info for p in parents}
    (a, b) = spans.values()
    assert a.start_time < b.end_time and b.start_time < a.end_time
