"""The evaluate stage's outputs (metrics.json, plots, tables, one MLflow run); the metrics
themselves are tested in test_metrics.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from seqnetquake import evaluate as ev
from seqnetquake.metrics import HEADLINE_KEYS, format_ci
from seqnetquake.predictions import Predictions


def _fake_stage(directory, seed: int, n: int = 60) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet([1, 1, 1], n)
    proba[np.arange(n), y] += 0.5  # better than chance
    proba /= proba.sum(axis=1, keepdims=True)
    ids = np.array([("art-c-%d" if k == 0 else "us%d") % (i % 7) if k < 2 else ""
                    for i, k in enumerate(y)])
    directory.mkdir(parents=True)
    Predictions(proba=proba, y=y, event_id=ids,
                   t0=np.arange(n).astype("datetime64[ns]"), proba_val=proba[::-1], y_val=y[::-1],
                   event_id_val=ids[::-1]).save(directory / "predictions.npz")


def test_run_stage_writes_reports_and_one_mlflow_run(tmp_path, cfg, mlflow_uri):
    import mlflow

    models = tmp_path / "models"
    _fake_stage(models / "transfer", 1)
    _fake_stage(models / "base", 2)
    _fake_stage(models / "baselines" / "cnn", 3)
    reports = tmp_path / "reports"

    ev.run_stage(cfg, models, reports)

    metrics = json.loads((reports / "metrics.json").read_text())
    assert set(metrics) == {"data_kind", "base", "transfer", "baselines"}
    # the headline file: exactly the metrics with their event-bootstrap intervals
    assert set(metrics["baselines"]["cnn"]) == set(HEADLINE_KEYS)
    for name in ("mcc", "f1_weighted", "accuracy", "mcc_ew"):
        m = metrics["transfer"]
        assert m[f"{name}_ci_low"] <= m[name] <= m[f"{name}_ci_high"], name
    details = json.loads((reports / "metrics_details.json").read_text())
    assert {"mcc", "mcc_ci_low", "f1_weighted", "accuracy", "auc_class2", "eq_mcc",
            "eqa_mcc"} <= set(details["baselines"]["cnn"])
    assert details["transfer"]["mcc"] == metrics["transfer"]["mcc"]
    for name in ("confusion_transfer", "roc_cnn", "ternary_base"):
        assert (reports / "plots" / "figures" / f"{name}.png").stat().st_size > 1000
    roc = pd.read_csv(reports / "plots" / "roc" / "transfer_class1.csv")
    assert list(roc.columns) == ["fpr", "tpr", "threshold"] and roc["tpr"].iloc[-1] == 1.0
    confusion = pd.read_csv(reports / "plots" / "confusion" / "cnn.csv")
    assert list(confusion.columns) == ["actual", "predicted"] and len(confusion) == 60
    table1 = (reports / "tables" / "table1.md").read_text()
    assert "simulated Ne/Te" in table1 and "| TL " in table1 and "0.5523" in table1
    m = metrics["transfer"]
    assert format_ci(m["mcc"], m["mcc_ci_low"], m["mcc_ci_high"]) in table1
    assert "micro F1" in table1 and "event bootstrap" in table1
    table2 = pd.read_csv(reports / "tables" / "table2.csv", comment="#")
    assert list(table2["model"]) == ["CNN", "SeqNetQuake-TL"]
    assert not list(tmp_path.glob("reports/.*.tmp"))  # nothing half-written left behind

    runs = mlflow.search_runs(experiment_names=[cfg.mlflow.experiment], output_format="list")
    assert len(runs) == 1 and runs[0].data.tags["stage"] == "evaluate"
    assert runs[0].data.metrics["transfer.mcc"] == pytest.approx(metrics["transfer"]["mcc"])
    assert runs[0].data.metrics["transfer.mcc_ci_low"] == pytest.approx(m["mcc_ci_low"])
    assert runs[0].data.metrics["transfer.mcc_ew_ci_high"] == pytest.approx(m["mcc_ew_ci_high"])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(runs[0].info.run_id)}
    assert {"metrics.json", "plots", "tables"} <= artifacts
