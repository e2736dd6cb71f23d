"""Registry: aliases on registration, the promotion gate through the CLI, forced promotion with
a recorded reason, rollback, serving ``models:/NAME@champion``, and dvc.lock lineage."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from seqnetquake import registry, serving, tracking
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
            info = serving.log_classifier(tmp_path / "rf", val.X)
        return run.info.run_id, info.model_uri

    return log


def _register(log, val_mcc: float, test_mcc: float = 0.35) -> registry.Registered:
    run_id, uri = log()
    return registry.register_version(NAME, uri, run_id,
                                     {"val_mcc": val_mcc, "test_mcc": test_mcc},
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
    assert "val_mcc" in refused.output
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


# --------------------------------------------------------------------------- races, bad input
def _race(func, n: int = 2) -> list:
    """Call ``func`` from n threads released at the same instant; results or exceptions."""
    import threading

    barrier, out = threading.Barrier(n), [None] * n

    def worker(k: int) -> None:
        barrier.wait()
        try:
            out[k] = func()
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            out[k] = exc

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _said(output: str) -> list[str]:
    """The CLI's lines apart from the ``tracking URI: ...`` line every registry command prints."""
    return [line for line in output.strip().splitlines()
            if not line.startswith("tracking URI: ")]


def _history() -> list[str]:
    from mlflow import MlflowClient

    return json.loads(MlflowClient().get_registered_model(NAME).tags.get("champion_history",
                                                                         "[]"))


def test_concurrent_promotes_have_one_winner(logged):
    """Three rounds of two promotes at the same instant: exactly one wins each round, the other
    gets one RegistryError line, and the history never holds a duplicate."""
    _register(logged, 0.30)
    for round_, mcc in enumerate((0.40, 0.50, 0.60), start=2):
        _register(logged, mcc)
        results = _race(lambda: registry.promote(NAME, "val_mcc"))
        wins = [r for r in results if isinstance(r, str)]
        losses = [r for r in results if isinstance(r, registry.RegistryError)]
        assert len(wins) == 1 and len(losses) == 1, results
        assert "\n" not in str(losses[0])
        assert _champion() == str(round_)
        history = _history()
        assert history == [str(v) for v in range(1, round_)]
        assert len(set(history)) == len(history)


def test_concurrent_rollbacks_lose_nothing(logged):
    """Two rollbacks at once: each either applies (one step each, in turn) or is refused with
    one line; the history and the champion stay consistent (no rollback lost)."""
    for mcc in (0.3, 0.4, 0.5):
        _register(logged, mcc)
        if mcc > 0.3:
            registry.promote(NAME, "val_mcc")
    assert _champion() == "3" and _history() == ["1", "2"]
    results = _race(lambda: registry.rollback(NAME))
    applied = sum(isinstance(r, str) for r in results)
    assert applied >= 1 and all(isinstance(r, str | registry.RegistryError) for r in results)
    assert _champion() == ["3", "2", "1"][applied]
    assert _history() == ["1", "2"][: 2 - applied]


def test_registry_errors_are_one_line(logged, repo_root):
    """Rollback to a deleted version, a corrupt history tag, champion and challenger evaluated
    on different data: one line each through the CLI, exit 1, aliases untouched."""
    from mlflow import MlflowClient

    client = MlflowClient()
    params = ["--params", str(repo_root / "params.yaml")]
    _register(logged, 0.3)
    _register(logged, 0.4)
    assert _cli("promote", NAME, *params).exit_code == 0 and _history() == ["1"]

    client.set_registered_model_tag(NAME, "champion_history", "[1, 2")
    bad = _cli("rollback", NAME, *params)
    assert bad.exit_code == 1 and _champion() == "2"
    assert len(_said(bad.output)) == 1
    assert "champion_history is corrupt" in bad.output

    client.set_registered_model_tag(NAME, "champion_history", json.dumps(["1"]))
    client.delete_model_version(NAME, "1")
    gone = _cli("rollback", NAME, *params)
    assert gone.exit_code == 1 and _champion() == "2"
    assert _said(gone.output) == [(f"error: {NAME}: cannot roll back to v1: that version no "
                                   "longer exists (deleted?); history champion_history = ['1']")]

    run_id, uri = logged()
    registry.register_version(NAME, uri, run_id, {"test_mcc": 0.9},
                              {"dvc_md5/data/processed/07/test.npz": "other"}, "new data")
    other = _cli("promote", NAME, *params)
    assert other.exit_code == 1 and _champion() == "2"
    assert "evaluated on different data (dvc_md5/data/processed/07/test.npz: other vs none)" \
        in other.output
    # promote shows both versions' figures first; the refusal itself is one line
    assert [line for line in _said(other.output) if line.startswith("error:")] == \
        [_said(other.output)[-1]]


@pytest.mark.parametrize(("change", "field", "words"), [
    ("nan", "X[ne_cm3]", "non-finite value nan at window 3, sample 4"),
    ("label", "y", "label 7 not in {0, 1, 2} at window 2"),
    ("T", "X", "window length T = 12, the model expects T = 10"),
    ("channels", "X", "3 channels, the model expects 2 (ne_cm3, te_k)"),
])
def test_predict_refuses_bad_windows_in_one_line(logged, tmp_path, repo_root, change, field,
                                                 words):
    _register(logged, 0.4)
    windows = window_set(7, seed=9)
    X, y = windows.X.copy(), windows.y.copy()
    if change == "nan":
        X[3, 4, 0] = np.nan
    elif change == "label":
        y[2] = 7
    elif change == "T":
        X = np.concatenate([X, X[:, :2]], axis=1)
    else:
        X = np.concatenate([X, X[:, :, :1]], axis=2)
    npz = tmp_path / "bad.npz"
    np.savez(npz, X=X, y=y)
    out = _cli("predict", f"models:/{NAME}@champion", str(npz), "--params",
               str(repo_root / "params.yaml"), "--out", str(tmp_path / "p.csv"))
    assert out.exit_code == 1
    assert _said(out.output) == [f"error: {npz}: {field}: {words}"]
    assert not (tmp_path / "p.csv").exists()
def test_promotion_refused_when_validation_is_worse_even_though_test_is_better(logged,
                                                                               repo_root):
    params = ["--params", str(repo_root / "params.yaml")]
    _register(logged, val_mcc=0.40, test_mcc=0.20)
    _register(logged, val_mcc=0.30, test_mcc=0.60)  # better on test, worse on validation
    refused = _cli("promote", NAME, *params)
    assert refused.exit_code == 1 and _champion() == "1"
    assert "val_mcc 0.3000 < champion v1 0.4000" in refused.output
    # both versions' validation and test figures are printed
    assert "champion v1: validation val_mcc 0.4000" in refused.output
    assert "challenger v2: validation val_mcc 0.3000" in refused.output
    assert "test_mcc 0.6000" in refused.output and "test_mcc 0.2000" in refused.output
    # a test metric cannot be the gate
    with pytest.raises(registry.RegistryError, match="not a validation metric"):
        registry.promote(NAME, "test_mcc")
    assert _champion() == "1"


def test_version_metric_tags_are_validation_and_test_headline_only():
    stage = {"val_mcc": 0.4, "val_f1_weighted": 0.5, "val_accuracy": 0.6, "val_auc_class0": 0.7,
             "test_mcc": 0.3, "test_f1_weighted": 0.4, "test_accuracy": 0.5,
             "test_eq_mcc": 0.9, "epochs": 3.0, "fit_seconds": 1.0, "test_auc_class2": None}
    assert set(registry._test_metrics(stage)) == set(registry.METRIC_TAGS)
