"""Typed config from params.yaml; MLflow URI resolution; atomic outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from seqnetquake import tracking
from seqnetquake.config import ConfigError, load_config
from seqnetquake.fileio import atomic_path


def test_params_build_typed_config(cfg):
    assert cfg.catalog.min_magnitude == 5.0
    assert cfg.tuning.evals_for("seqnetquake") == 20 and cfg.tuning.evals_for("rf") == 3
    assert sorted(cfg.datasets) == [f"{i:02d}" for i in range(1, 12)]
    assert cfg.datasets["07"].radius == "dobrovolsky" and cfg.datasets["03"].radius == 3.0
    assert cfg.datasets["11"].satellite == "demeter"


def test_unknown_or_bad_keys_fail_loudly(tmp_path, repo_root):
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["catalog"]["min_magnitud"] = 4.8
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="catalog.min_magnitud"):
        load_config(bad)
    raw["catalog"].pop("min_magnitud")
    raw["datasets"]["07"]["radius"] = "dobrovolski"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="datasets.07.radius"):
        load_config(bad)
    raw["datasets"]["07"]["radius"] = "dobrovolsky"
    raw["tuning"]["max_evals_by_model"] = {"seqnetquake": 0}
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="tuning.*max_evals_by_model"):
        load_config(bad)
    raw["tuning"]["max_evals_by_model"] = {"seqnetqauke": 20}
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="seqnetqauke not among tuning.models"):
        load_config(bad)


def test_tracking_uri_precedence(cfg, monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert tracking.tracking_uri(cfg) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    custom = cfg.model_copy(
        update={"mlflow": cfg.mlflow.model_copy(update={"tracking_uri": "http://127.0.0.1:9"})}
    )
    assert tracking.tracking_uri(custom) == "http://127.0.0.1:9"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert tracking.tracking_uri(custom) == "sqlite:///elsewhere.db"


def test_importing_sets_no_tracking_uri():
    import subprocess
    import sys

    code = (
        "import seqnetquake.cli, seqnetquake.tracking, mlflow; print(mlflow.is_tracking_uri_set())"
    )
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "False", out.stderr


def test_stage_run_failure_is_not_left_running(cfg, mlflow_uri):
    import mlflow

    with pytest.raises(RuntimeError), tracking.stage_run(cfg, "boom"):
        raise RuntimeError("stage failed")
    runs = mlflow.search_runs(experiment_names=[cfg.mlflow.experiment])
    assert runs["status"].tolist() == ["FAILED"]
    assert runs["tags.data_kind"].iloc[0] == "simulated"


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "out" / "table.parquet"
    with pytest.raises(ValueError), atomic_path(final) as tmp:
        Path(tmp).write_text("half")
        raise ValueError("crash")
    assert not final.exists() and list(final.parent.iterdir()) == []
    with atomic_path(final) as tmp:
        Path(tmp).write_text("whole")
    assert final.read_text() == "whole"
    with atomic_path(tmp_path / "dir") as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("1")
    assert (tmp_path / "dir" / "a").read_text() == "1"


def test_configure_survives_a_concurrent_writer_creating_the_experiment(cfg, mlflow_uri,
                                                                      monkeypatch):
    """Two searches start at once against one server: the one that loses the race to create
    the experiment uses the winner's (RESOURCE_ALREADY_EXISTS), instead of failing."""
    import mlflow

    mlflow.set_tracking_uri(mlflow_uri)
    winner = mlflow.create_experiment(cfg.mlflow.experiment)
    real = mlflow.get_experiment_by_name
    calls = []

    def not_yet_then_real(name):  # the loser looked before the winner had created it
        calls.append(name)
        return None if len(calls) == 1 else real(name)

    monkeypatch.setattr(mlflow, "get_experiment_by_name", not_yet_then_real)
    assert tracking.configure(cfg) == winner
    assert len(calls) == 2
