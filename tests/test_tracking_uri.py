"""User commands find their tracking store wherever they run (the real ``seqnetquake`` command):
``--tracking-uri`` / MLFLOW_TRACKING_URI need no params.yaml, else the project root above the
current folder; the URI is printed; a missing store is a clear error, never created empty."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from score_fixtures import register_tiny_model, run_cli
from seqnetquake import paths
from tiny_windows import window_set


@pytest.fixture(scope="module")
def project(tmp_path_factory, repo_root):
    root = tmp_path_factory.mktemp("project")
    register_tiny_model(root)
    shutil.copy(repo_root / "params.yaml", root / "params.yaml")
    (root / "dvc.yaml").write_text("stages: {}\n")
    (root / "deep" / "down").mkdir(parents=True)
    np.savez(root / "w.npz", X=window_set(4, seed=8).X)
    return root


def test_commands_find_the_project_from_a_subfolder(project):
    done = run_cli("promote", "seqnetquake-cses", cwd=project / "deep" / "down")
    assert done.returncode == 0, done.stderr
    assert "v1 is already champion" in done.stdout
    assert f"tracking URI: sqlite:///{project / 'mlflow.db'}" in done.stderr
    done = run_cli("rollback", "seqnetquake-cses", cwd=project / "deep")
    assert done.returncode == 1 and "no previous champion to roll back to" in done.stderr
    done = run_cli("predict", "models:/seqnetquake-cses@champion", str(project / "w.npz"),
                   cwd=project / "deep")
    assert done.returncode == 0, done.stderr
    assert "4 windows" in done.stdout


def test_outside_any_project_the_inputs_name_it(project, tmp_path):
    done = run_cli("predict", "models:/seqnetquake-cses@champion", str(project / "w.npz"),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"tracking URI: sqlite:///{project / 'mlflow.db'}" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_explicit_uri_needs_no_params(project, tmp_path):
    uri = f"sqlite:///{project / 'mlflow.db'}"
    done = run_cli("predict", "models:/seqnetquake-cses@champion", str(project / "w.npz"),
                   "--tracking-uri", uri, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"tracking URI: {uri}" in done.stderr
    done = run_cli("promote", "seqnetquake-cses", cwd=tmp_path,
                   env={"MLFLOW_TRACKING_URI": uri})
    assert done.returncode == 0 and "already champion" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_no_store_is_an_error_not_an_empty_store(project, tmp_path):
    lone = tmp_path / "lone.npz"
    lone.write_bytes((project / "w.npz").read_bytes())
    done = run_cli("predict", "models:/seqnetquake-cses@champion", str(lone), cwd=tmp_path)
    assert done.returncode == 1
    assert "no seqnetquake project (params.yaml + dvc.yaml)" in done.stderr
    missing = tmp_path / "nowhere" / "mlflow.db"
    done = run_cli("promote", "seqnetquake-cses", "--tracking-uri", f"sqlite:///{missing}",
                   cwd=tmp_path)
    assert done.returncode == 1
    assert f"no MLflow store at {missing} (from --tracking-uri)" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lone.npz"]


def test_find_project_root(tmp_path):
    (tmp_path / "params.yaml").write_text("{}")
    (tmp_path / "dvc.yaml").write_text("stages: {}")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert paths.find_project_root(tmp_path / "a" / "b") == tmp_path.resolve()
    assert paths.find_project_root(tmp_path.parent) is None
