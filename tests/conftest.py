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

    # The repository's params with the raw channels: the tests' tiny windows (tiny_windows.py,
    # model_fixtures.py) hold ne_cm3, te_k; residual-channel tests set their channels.
    cfg = load_config(REPO / "params.yaml")
    return cfg.model_copy(update={"windows": cfg.windows.model_copy(
        update={"features": ["ne_cm3", "te_k"]})})


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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def tracking_server():
    """A real ``mlflow server`` over PostgreSQL (seqnetquake.server), shared by the session.

    .ci/run starts one and names it in SEQNETQUAKE_TEST_TRACKING_URI; otherwise this fixture
    starts a private one (cluster in a fresh /tmp folder) and stops it at the end. Without
    PostgreSQL installed the tests using it are skipped, except under CI, where they fail.
    """
    uri = os.environ.get("SEQNETQUAKE_TEST_TRACKING_URI")
    if uri:
        yield uri
        return
    import shutil
    import tempfile

    from seqnetquake import server as srv

    try:
        srv.pg_bin_dir()
    except srv.ServerError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    root = Path(tempfile.mkdtemp(prefix="seqnetquake-server-"))
    root.chmod(0o755)  # the cluster owner (postgres, when root runs the tests) must reach it
    here = srv.Server(root, _free_port(), _free_port(), workers=2)
    try:
        yield srv.start(here)
    finally:
        srv.stop(here)
        shutil.rmtree(root, ignore_errors=True)
