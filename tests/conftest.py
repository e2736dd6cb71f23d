"""Shared fixtures: the repository's params, and a private MLflow store per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def cfg():
    from seqnetquake.config import load_config

    return load_config(REPO / "params.yaml")


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch) -> str:
    """A real sqlite MLflow store private to the test (never the repository's mlflow.db)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    yield uri
    if mlflow.active_run():
        mlflow.end_run()
