"""The bad-input corpus through the real CLI: broken windows, bad config values, SIGTERM.

Each case is one line naming the file (or ``params.yaml``) and the field, a non-zero exit,
no run left RUNNING and no output or temporary left looking complete.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from model_fixtures import save_npz
from seqnetquake.cli import app
from seqnetquake.windowset import load_windows
from tiny_windows import SEQNETQUAKE_HP, window_set, write_dataset

REPO = Path(__file__).resolve().parents[1]


def _params(tmp_path: Path, **sections) -> Path:
    """The repository's params.yaml with some keys changed and a private experiment."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["mlflow"]["experiment"] = "hostile"
    raw["windows"]["features"] = ["ne_cm3", "te_k"]  # the fixtures hold raw-channel windows
    for section, values in sections.items():
        raw[section].update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _workspace(tmp_path: Path, cfg) -> tuple[Path, Path]:
    """Tiny datasets (base and target), tuned SeqNetQuake params; returns (data, models)."""
    data, models = tmp_path / "data" / "processed", tmp_path / "models"
    write_dataset(data / cfg.train.base_dataset, seed=1)
    write_dataset(data / cfg.train.target_dataset, seed=2)
    (models / "tuning" / "seqnetquake").mkdir(parents=True)
    (models / "tuning" / "seqnetquake" / "best_params.json").write_text(
        json.dumps(SEQNETQUAKE_HP))
    return data, models


def _cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _error_line(result) -> str:
    """The one ``error:`` line the command printed (and assert it is the only one)."""
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def _runs(experiment: str = "hostile"):
    exp = mlflow.MlflowClient().get_experiment_by_name(experiment)
    return [] if exp is None else mlflow.MlflowClient().search_runs([exp.experiment_id])


# --------------------------------------------------------------------------- config values
@pytest.mark.parametrize(("section", "key", "value", "command"), [
    ("tuning", "max_evals", 0, "tune"),
    ("tuning", "max_evals", -3, "tune"),
    ("tuning", "validation_fraction", 1.5, "tune"),
    ("tuning", "validation_fraction", 0.0, "train"),
    ("tuning", "patience", 0, "tune"),
    ("train", "max_epochs", 0, "train"),
    ("train", "patience", -1, "train"),
    ("train", "fine_tune_learning_rates", [], "train"),
])
def test_bad_config_value_is_one_line_before_any_run(tmp_path, cfg, mlflow_uri, section, key,
                                                     value, command):
    data, models = _workspace(tmp_path, cfg)
    params = _params(tmp_path, **{section: {key: value}})
    out = models / "tuning" / "rf"
    if command == "tune":
        args = ["tune", "rf", "--dataset-dir", data / cfg.train.target_dataset, "--out-dir", out]
    else:
        args = ["train", "direct", "--data-dir", data, "--models-dir", models]
    result = _cli(*args, "--params", params)
    assert result.exit_code == 1
    assert _error_line(result).startswith(f"error: {params}: {section}.{key}: ")
    assert _runs() == []  # no run started, FAILED or otherwise
    assert not out.exists() and not (models / "direct").exists()


# --------------------------------------------------------------------------- broken windows
def _break(path: Path, change: str) -> str:
    """Rewrite one window npz with one defect; return the expected field and problem."""
    ws = load_windows(path)
    X, y = ws.X.copy(), ws.y.copy()
    if change == "nan":
        X[5, 3, 1] = np.nan
        expected = "X[te_k]: non-finite value nan at window 5, sample 3"
    elif change == "inf":
        X[0, 0, 0] = np.inf
        expected = "X[ne_cm3]: non-finite value inf at window 0, sample 0"
    elif change == "label":
        y[4] = 3
        expected = "y: label 3 not in {0, 1, 2} at window 4"
    elif change == "channels":
        X = np.concatenate([X, X[:, :, :1]], axis=2)
        expected = "X: 3 channels, the model expects 2 (ne_cm3, te_k)"
    else:  # a Te far below the instrument range
        X[2, 1, 1] = -1000.0
        expected = "X[te_k]: -1000 outside the instrument range [500, 10000] at window 2, sample 1"
    arrays = {name: getattr(ws, name) for name in ws.__dataclass_fields__} | {"X": X, "y": y}
    np.savez(path, **arrays)
    return expected


@pytest.mark.parametrize("change", ["nan", "inf", "label", "channels", "range"])
def test_tune_refuses_broken_windows(tmp_path, cfg, mlflow_uri, change):
    data, models = _workspace(tmp_path, cfg)
    train_npz = data / cfg.train.target_dataset / "train.npz"
    expected = _break(train_npz, change)
    out = models / "tuning" / "rf"
    result = _cli("tune", "rf", "--dataset-dir", train_npz.parent, "--out-dir", out,
                  "--params", _params(tmp_path, tuning={"max_evals": 1}))
    assert result.exit_code == 1
    assert _error_line(result) == f"error: {train_npz}: {expected}"
    assert not out.exists() and _runs() == []


@pytest.mark.parametrize(("split", "change"), [("train", "nan"), ("test", "nan"),
                                               ("train", "label")])
def test_train_refuses_broken_windows(tmp_path, cfg, mlflow_uri, split, change):
    data, models = _workspace(tmp_path, cfg)
    npz = data / cfg.train.target_dataset / f"{split}.npz"
    expected = _break(npz, change)
    result = _cli("train", "direct", "--data-dir", data, "--models-dir", models,
                  "--params", _params(tmp_path, train={"max_epochs": 1}))
    assert result.exit_code == 1
    assert _error_line(result) == f"error: {npz}: {expected}"
    assert not (models / "direct").exists() and _runs() == []


def test_transfer_refuses_windows_of_another_length(tmp_path, cfg, mlflow_uri):
    """A base model for T = 10 and target windows of T = 12: one line naming T."""
    data, models = _workspace(tmp_path, cfg)
    params = _params(tmp_path, train={"max_epochs": 1, "fine_tune_epochs": 1})
    assert _cli("train", "base", "--data-dir", data, "--models-dir", models,
                "--params", params).exit_code == 0
    target = data / cfg.train.target_dataset
    for split in ("train", "test"):
        ws = window_set(40, seed=5)
        ws = ws.__class__(**{**ws.__dict__, "X": np.concatenate([ws.X, ws.X[:, :2]], axis=1)})
        save_npz(ws, target / f"{split}.npz")
    result = _cli("train", "transfer", "--data-dir", data, "--models-dir", models,
                  "--params", params)
    assert result.exit_code == 1
    assert _error_line(result) == (f"error: {target / 'train.npz'}: X: window length T = 12, "
                                   "the model expects T = 10")
    assert not (models / "transfer").exists()


# --------------------------------------------------------------------------- signals
def _wait_for(predicate, timeout: float, what: str, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: process exited early ({proc.returncode}): "
                        f"{proc.stderr.read()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
def test_sigterm_to_train_direct_kills_its_run_and_temporaries(tmp_path, cfg, mlflow_uri):
    """SIGTERM to a real `seqnetquake train direct` mid-fit: exit 143, the run KILLED, no
    `.direct.*.tmp` left, the previous complete models/direct/ untouched. Then the stale
    leftovers of a kill -9 (a RUNNING run, a temporary) are cleaned when the stage starts."""
    data, models = _workspace(tmp_path, cfg)
    previous = models / "direct"
    previous.mkdir(parents=True)
    (previous / "metrics.json").write_text('{"previous": true}\n')
    # Many epochs and a patience that never stops early: the fit is running when we signal.
    params = _params(tmp_path, train={"max_epochs": 5000, "patience": 5000})
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri, "DVC_ROOT": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    exe = Path(sys.executable).with_name("seqnetquake")
    cmd = [str(exe), "train", "direct", "--data-dir", str(data), "--models-dir", str(models),
           "--params", str(params)]

    def start():
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)

    def temporaries():
        return list(models.glob(".direct.*.tmp"))

    proc = start()
    try:
        _wait_for(temporaries, 240, "the training temporary", proc)
        time.sleep(1.0)  # inside the epoch loop
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: interrupted by SIGTERM; run(s) ")
    runs = _runs()
    assert [r.info.status for r in runs] == ["KILLED"]
    assert runs[0].data.tags["killed_reason"] == "interrupted by SIGTERM"
    assert temporaries() == []
    assert (previous / "metrics.json").read_text() == '{"previous": true}\n'
    assert {p.name for p in previous.iterdir()} == {"metrics.json"}

    # kill -9 leaves a RUNNING run and a temporary; the next start of the stage cleans both.
    proc = start()
    try:
        _wait_for(temporaries, 240, "the training temporary", proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(temporaries()) == 1
    stale = [r for r in _runs() if r.info.status == "RUNNING"]
    assert len(stale) == 1
    quick = _params(tmp_path, train={"max_epochs": 1, "patience": 1})
    done = subprocess.run([*cmd[:-1], str(quick)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert mlflow.MlflowClient().get_run(stale[0].info.run_id).info.status == "KILLED"
    assert temporaries() == []
    assert (previous / "model").is_dir()  # the new complete output replaced the old one


def test_stale_temporaries_of_dead_writers_only_are_removed(tmp_path):
    """`.<name>.<pid>-*.tmp` of a dead writer (or of the old unnamed format) goes; a live
    writer's stays; other files are never touched."""
    from seqnetquake.fileio import atomic_path, remove_stale_temporaries

    final = tmp_path / "direct"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale_dir = tmp_path / f".direct.{dead}-abc123.tmp"
    (stale_dir / "model").mkdir(parents=True)
    legacy = tmp_path / ".direct.k2j4_x9q.tmp"
    legacy.write_text("partial")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = tmp_path / f".direct.{live.pid}-zzz.tmp"
        alive.mkdir()
        other = tmp_path / ".directory.1-x.tmp"
        other.write_text("not ours")
        assert sorted(remove_stale_temporaries(final)) == sorted([stale_dir, legacy])
        assert alive.exists() and other.exists() and not stale_dir.exists()
        with atomic_path(final) as tmp:  # a write names its temporary with its own pid
            assert tmp.name.startswith(f".direct.{os.getpid()}-") and tmp.name.endswith(".tmp")
            tmp.mkdir()
        assert final.is_dir()
    finally:
        live.kill()
        live.wait()


def test_src_never_unpickles():
    """No module loads a pickle: not pickle, joblib, cloudpickle, dill, nor numpy's
    allow_pickle=True; MLflow models are logged from code (no cloudpickled python_model)."""
    import re

    banned = re.compile(r"\b(pickle\.loads?|joblib\.load|cloudpickle|dill|shelve|marshal\.loads?"
                        r"|import pickle|from pickle|allow_pickle\s*=\s*True|Unpickler)\b")
    hits = [f"{path.relative_to(REPO)}:{n}: {line.strip()}"
            for path in sorted((REPO / "src").rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), start=1)
            if banned.search(line)]
    assert hits == []
    serving_src = (REPO / "src" / "seqnetquake" / "serving.py").read_text()
    assert 'python_model=str(PACKAGE_DIR / "pyfunc_model.py")' in serving_src
