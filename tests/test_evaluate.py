"""Evaluation: metrics against hand-computed values, the event-level threshold protocol, and the
evaluate stage's outputs (metrics.json, plots, tables, one MLflow run)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from seqnetquake import evaluate as ev
from seqnetquake.metrics import format_ci

# Six windows whose confusion matrix is easy to check by hand:
#   true 0 0 0 1 1 2 / predicted 0 0 1 1 2 2
Y = np.array([0, 0, 0, 1, 1, 2])
PROBA = np.array([
    [0.8, 0.1, 0.1],
    [0.6, 0.3, 0.1],
    [0.3, 0.5, 0.2],
    [0.2, 0.7, 0.1],
    [0.1, 0.4, 0.5],
    [0.1, 0.2, 0.7],
])


def test_window_metrics_by_hand():
    m = ev.window_metrics(Y, PROBA)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # F1 per class: 0.8 (P 1, R 2/3), 0.5, 2/3 (P 1/2, R 1); weights 3, 2, 1.
    assert m["f1_weighted"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    # Multiclass MCC (Gorodkin): (c s - sum t_k p_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2))
    # with c = 4 right, s = 6, true counts t = (3, 2, 1), predicted counts p = (2, 2, 2).
    assert m["mcc"] == pytest.approx((4 * 6 - (6 + 4 + 2)) / math.sqrt((36 - 12) * (36 - 14)))
    # One-vs-rest AUC: class 1 positives 0.7, 0.4 against negatives 0.1 0.3 0.5 0.2 -> 7/8.
    assert (m["auc_class0"], m["auc_class1"], m["auc_class2"]) == pytest.approx((1, 7 / 8, 1))


def test_confusion_row_and_column_percentages():
    t = ev.confusion_tables(Y, PROBA.argmax(axis=1))
    assert t.counts.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert t.row_pct[0].tolist() == pytest.approx([200 / 3, 100 / 3, 0])  # recall of class 0
    assert t.col_pct[:, 2].tolist() == pytest.approx([0, 50, 50])  # precision of class 2
    assert t.row_pct.sum(axis=1) == pytest.approx([100, 100, 100])


def test_event_scores_group_windows_per_event():
    event_id = np.array(["us1", "us1", "us1", "art-cses-00001", "art-cses-00001", ""])
    y = np.array([1, 1, 2, 0, 0, 0])
    proba = np.array([[0.1, 0.9, 0], [0.6, 0.4, 0], [0, 0.2, 0.8], [0.9, 0.1, 0],
                      [0.7, 0.3, 0], [0.1, 0.9, 0]])
    events = ev.event_scores(y, proba, event_id).set_index("event_id")
    assert events.loc["us1", "label"] == 1 and events.loc["art-cses-00001", "label"] == 0
    assert events.loc["us1", "score"] == pytest.approx(2 / 3)  # storm window right as 2
    assert events.loc["art-cses-00001", "score"] == 1.0
    assert events.loc["us1", "p_seismic"] == pytest.approx(0.5)
    assert len(events) == 2  # the window without an event is not an event


def test_authors_rule_threshold_search_is_vacuous():
    """Their rule calls an event with its own label: raising t only adds wrong calls, so MCC
    never increases with t and the 'optimal' threshold is always the grid's first, 0.70."""
    rng = np.random.default_rng(0)
    for _ in range(15):
        n = int(rng.integers(4, 30))
        events = pd.DataFrame({"label": rng.integers(0, 2, n), "score": rng.random(n)})
        label, score = events["label"].to_numpy(), events["score"].to_numpy()
        mccs = [ev.matthews_corrcoef(label, ev.AUTHORS_RULE.call(label, score, t))
                for t in ev.EQ_THRESHOLDS]
        assert np.all(np.diff(mccs) <= 1e-12)
        assert ev.choose_threshold(events) == 0.70


def _predictions(val_p: dict[str, float], test_p: dict[str, float]) -> ev.Predictions:
    """One window per event; y and P(seismic) from the event (real 'usN', artificial 'art-')."""

    def part(events: dict[str, float]):
        ids = np.array(list(events))
        p = np.array(list(events.values()))
        y = np.array([0 if i.startswith("art-") else 1 for i in ids])
        return np.stack([1 - p, p, np.zeros_like(p)], axis=1), y, ids

    proba, y, ids = part(test_p)
    proba_val, y_val, ids_val = part(val_p)
    return ev.Predictions(proba=proba, y=y, event_id=ids,
                          t0=np.arange(len(y)).astype("datetime64[ns]"),
                          proba_val=proba_val, y_val=y_val, event_id_val=ids_val)


def test_alarm_threshold_is_chosen_on_validation_not_test():
    # Validation separates real from artificial events above 0.55: t = 0.56.
    val = {"us1": 0.60, "us2": 0.70, "art-1": 0.30, "art-2": 0.55}
    # The test events would be separated perfectly by t = 0.31, but 0.56 misses us3.
    test = {"us3": 0.45, "us4": 0.80, "art-3": 0.20, "art-4": 0.30}
    m = ev.all_metrics(_predictions(val, test))
    assert m["eqa_threshold"] == pytest.approx(0.56)
    tested = ev.event_scores(*_unpack_test(_predictions(val, test)))
    assert ev.choose_threshold(tested, ev.ALARM_RULE) == pytest.approx(0.31)
    # TP 1, FN 1, TN 2, FP 0 -> MCC 2 / sqrt(1 * 2 * 2 * 3); with 0.31 it would be 1.
    assert m["eqa_mcc"] == pytest.approx(2 / math.sqrt(12))
    assert m["eqa_sensitivity"] == pytest.approx(0.5) and m["eqa_precision"] == 1.0
    assert m["eqa_roc_auc"] == 1.0  # the ranking itself is perfect
    # The authors' rule on the same predictions: us3's one window is wrong (P 0.45 < 0.55).
    assert m["eq_threshold"] == 0.70 and m["eq_accuracy"] == 0.75


def _unpack_test(pred: ev.Predictions):
    return pred.y, pred.proba, pred.event_id


def _fake_stage(directory, seed: int, n: int = 60) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet([1, 1, 1], n)
    proba[np.arange(n), y] += 0.5  # better than chance
    proba /= proba.sum(axis=1, keepdims=True)
    ids = np.array([("art-c-%d" if k == 0 else "us%d") % (i % 7) if k < 2 else ""
                    for i, k in enumerate(y)])
    directory.mkdir(parents=True)
    ev.Predictions(proba=proba, y=y, event_id=ids,
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
    assert set(metrics["baselines"]["cnn"]) == set(ev.HEADLINE_KEYS)
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


def test_headline_intervals_are_seeded_and_event_weighted_differs():
    rng = np.random.default_rng(0)
    # 30 events: event 0 owns 100 windows, all right; the others 3 windows, half wrong
    ids = np.array(["us0"] * 100 + [f"us{k}" for k in range(1, 30) for _ in range(3)])
    y = rng.integers(0, 3, len(ids))
    right = np.r_[np.ones(100, bool), rng.random(len(ids) - 100) < 0.5]
    pred_class = np.where(right, y, (y + 1) % 3)
    proba = np.eye(3)[pred_class]
    pred = ev.Predictions(proba=proba, y=y, event_id=ids, t0=np.zeros(len(y), "datetime64[ns]"),
                          proba_val=proba, y_val=y, event_id_val=ids)
    a = ev.headline_metrics(pred, 300, seed=1)
    assert a == ev.headline_metrics(pred, 300, seed=1)
    assert a != ev.headline_metrics(pred, 300, seed=2)
    assert set(a) == set(ev.HEADLINE_KEYS)
    # the big all-right event lifts the window-weighted accuracy, not the event-weighted one
    assert a["accuracy"] > a["accuracy_ew"] + 0.1
    assert a["accuracy_ci_low"] < a["accuracy"] < a["accuracy_ci_high"]
