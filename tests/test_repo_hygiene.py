"""What `make demo` writes on a fresh clone must not dirty git: files that change on every run
(run ids, store versions, HTML with run times) are neither committed nor DVC outputs."""

from __future__ import annotations

import subprocess

import yaml

PER_RUN = ("reports/data_docs/index.html", "mlflow.db",
           "mlartifacts/1/x", "scores.parquet", "scores.png", "reports/study_timing.md")


def _outs(stage: dict) -> set[str]:
    return {next(iter(o)) if isinstance(o, dict) else o
            for key in ("outs", "metrics", "plots") for o in stage.get(key, [])}


def test_per_run_files_are_ignored_and_not_outputs(repo_root):
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *PER_RUN], cwd=repo_root,
                             capture_output=True, text=True).stdout.split()
    assert sorted(ignored) == sorted(PER_RUN)
    tracked = subprocess.run(["git", "ls-files", "reports/data_docs"],
                             cwd=repo_root, capture_output=True, text=True).stdout
    assert tracked == ""
    stages = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]
    outputs = set().union(*(_outs(s.get("do", s)) for s in stages.values()))
    assert "reports/data_docs" not in outputs
    # register must have an output: a stage without one is never re-run on a fresh clone
    # (its dvc.lock entry matches), and the models would never reach the new store.
    assert "reports/registry.json" in _outs(stages["register"])
    study = yaml.safe_load((repo_root / "study" / "dvc.yaml").read_text())["stages"]
    outputs = set().union(*(_outs(s.get("do", s)) for s in study.values()))
    assert "reports/study.md" in outputs and "reports/study_timing.md" not in outputs


def test_every_metrics_file_is_committed(repo_root):
    """A DVC metrics file that is not committed shows up as untracked after `make demo`."""
    stages = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]
    metrics = {next(iter(m)) if isinstance(m, dict) else m
               for s in stages.values() if "foreach" not in s for m in s.get("metrics", [])}
    tracked = set(subprocess.run(["git", "ls-files", *metrics], cwd=repo_root,
                                 capture_output=True, text=True).stdout.split())
    assert metrics and metrics <= tracked
