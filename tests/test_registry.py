"""Registry: aliases on registration, the promotion gate through the CLI, forced promotion with
a recorded reason, rollback, serving ``models:/NAME@champion``, and dvc.lock lineage."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from seqnetquake import registry, tracking
from seqnetquake.cli import app
from tiny_windows import RF_HP, window_set

NAME = "seqnetquake-cses"


@pytest.fixture
def logged(tmp_path, cfg, mlflow_uri):
    """A function that logs a tiny fitted forest in a new run and returns (run_id, model_uri)."""
    import mlflow

    from seqnetquake.models import get_model

    train, val = window_set(90, seed=3), window_set(30, seed=4, start=90)
    clf = get_model("rf").build(RF_HP, train.T, train.F)
    clf.fit(train, val, max_epochs=1, patience=1, seed=0)
    clf.save(tmp_path / "rf")
    tracking.configure(cfg)

    def log() -> tuple[str, str]:
        with mlflow.start_run() as run:
            info = registry.log_classifier(tmp_path / "rf", val.X)
        return run.info.run_id, info.model_uri

    return log


def _register(log, mcc: float) -> registry.Registered:
    run_id, uri = log()
    return registry.register_version(NAME, uri, run_id, {"test_mcc": mcc},
                                     {"git_commit": "abc"}, "test version")


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _champion() -> str:
    from mlflow import MlflowClient

    return str(MlflowClient().get_model_version_by_alias(NAME, "champion").version)


def test_promote_gate_force_and_rollback(logged, repo_root):
    from mlflow import MlflowClient

    client = MlflowClient()
    params = ["--params", str(repo_root / "params.yaml")]
    first = _register(logged, 0.40)
    assert first.version == "1" and set(first.aliases) == {"challenger", "champion"}
    assert "already champion" in _cli("promote", NAME, *params).output

    worse = _register(logged, 0.30)
    assert worse.aliases == ["challenger"] and _champion() == "1"
    refused = _cli("promote", NAME, *params)
    assert refused.exit_code == 1
    assert "refused" in refused.output and "0.3000 < champion v1 0.4000" in refused.output
    assert _champion() == "1"
    assert _cli("promote", NAME, "--force", *params).exit_code == 1  # a reason is required

    forced = _cli("promote", NAME, "--force", "--reason", "drift on 2020 data", *params)
    assert forced.exit_code == 0, forced.output
    assert _champion() == "2"
    tags = client.get_model_version(NAME, "2").tags
    assert tags["promotion_reason"] == "drift on 2020 data" and tags["promotion_forced"] == "true"

    better = _register(logged, 0.50)
    ok = _cli("promote", NAME, *params)
    assert ok.exit_code == 0 and _champion() == better.version == "3"
    assert json.loads(client.get_registered_model(NAME).tags["champion_history"]) == ["1", "2"]
    assert _cli("promote", NAME, *params).exit_code == 1  # no challenger left

    assert _cli("rollback", NAME, *params).exit_code == 0 and _champion() == "2"
    assert client.get_model_version(NAME, "3").tags["rolled_back_to"] == "2"
    assert _cli("rollback", NAME, *params).exit_code == 0 and _champion() == "1"
    last = _cli("rollback", NAME, *params)
    assert last.exit_code == 1 and "no previous champion" in last.output


def test_champion_serves_raw_windows(logged, tmp_path, repo_root):
    import mlflow

    version = _register(logged, 0.4)
    run_id, uri = logged()
    again = registry.register_version(NAME, uri, run_id, {}, {}, "")
    assert again.version == "2"  # another run: a new version
    run_id = mlflow.MlflowClient().get_model_version(NAME, version.version).run_id
    assert registry.register_version(NAME, "unused", run_id, {}, {}, "").new is False

    windows = window_set(7, seed=9)
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    proba = model.predict(windows.X)  # raw Ne cm^-3 / Te K, exactly as in the npz
    assert proba.shape == (7, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)
    # Any shape reaches the model's own check (one line naming the channels); T and the
    # channels are in the metadata.
    assert model.metadata.get_input_schema().inputs[0].shape == (-1, -1, -1)
    assert model.metadata.metadata["T"] == 10
    assert model.metadata.metadata["channels"] == ["ne_cm3", "te_k"]

    npz = tmp_path / "windows.npz"
    np.savez(npz, X=windows.X, y=windows.y)
    out = _cli("predict", f"models:/{NAME}@champion", str(npz), "--params",
               str(repo_root / "params.yaml"), "--out", str(tmp_path / "p.csv"))
    assert out.exit_code == 0, out.output
    assert "storm" in out.output and "recall" in out.output
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 8


def test_dvc_lock_hashes_for_files_and_directories(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {
        "windows@07": {"outs": [{"path": "data/processed/07/train.npz", "md5": "f1"}]},
        "train_base": {"outs": [{"path": "models/base", "md5": "d1.dir"}]}}}))
    hashes = tracking.dvc_lock_hashes(
        ["data/processed/07/train.npz", tmp_path / "models/base/model", "data/x.npz"], lock)
    assert hashes == {"data/processed/07/train.npz": "f1", "models/base/model": "d1.dir"}
    assert tracking.data_tags(["data/processed/07/train.npz"], lock) == {
        "dvc_md5/data/processed/07/train.npz": "f1"}
    assert tracking.dvc_lock_hashes(["a"], tmp_path / "missing.lock") == {}
