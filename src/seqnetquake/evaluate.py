"""Evaluation: window metrics, the authors' earthquake-level metrics, plots and the paper tables.

The science is pure functions on arrays in ``seqnetquake.metrics`` (``window_metrics``,
``confusion_tables``, ``earthquake_metrics``: the same ones tuning and training compute);
``run_stage`` reads every training stage's ``predictions.npz`` (``seqnetquake.predictions``) and
writes ``reports/metrics.json`` (the headline, DVC metrics), ``reports/metrics_details.json``
(everything else), ``reports/plots/`` and ``reports/tables/``.

Headline metrics (``headline_metrics``): test MCC, weighted F1 and accuracy, each with a 95 %
interval from resampling *events* (``seqnetquake.metrics.event_bootstrap``, seeded,
``evaluate.bootstrap_samples``): the windows of one event are not independent, and one large
event can own half a class. Beside them the event-weighted variants (``*_ew``: each event's
windows weighted 1/n), so that a model cannot score by one event's many passes.

Earthquake-level metrics follow the authors' ``tools/utils.py`` (PAPER_NOTES.md) with one
correction: the authors chose the score threshold that maximises MCC *on the test set*; here it
is chosen on the validation predictions and then applied, unchanged, to the test set. Their
rule calls an event with its own true label, so its threshold search is vacuous (always 0.70,
:class:`seqnetquake.metrics.EventRule`); the ``eqa_*`` metrics add a label-free alarm rule
(mean P(seismic) of an event's windows >= t), whose validation-chosen threshold is a real
operating point.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from seqnetquake import tracking
from seqnetquake.config import Config
from seqnetquake.contracts import CLASS_NAMES, N_CLASSES, RUN_RECORD_FILE
from seqnetquake.fileio import atomic_path, write_json
from seqnetquake.metrics import (
    HEADLINE_KEYS,
    ConfusionTables,
    all_metrics,
    confusion_tables,
    format_ci,
    headline_metrics,
    json_safe,
    without_nan,
)
from seqnetquake.paper import PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE2_RANGE
from seqnetquake.paths import LAYOUT
from seqnetquake.predictions import BASELINE_NAMES, STAGE_MODELS, Predictions, stage_predictions

PLOT_DIRS = ("figures", "confusion", "roc")  # under reports/plots/, one DVC output each
TABLE_NOTE = (
    "Intervals: 95 % event bootstrap (events resampled, not windows; evaluate.bootstrap_samples). "
    "Event-weighted: each event's windows weighted 1/n. F1 is weighted F1; paper_f1 is what the "
    "authors' code reports, micro F1, which equals accuracy for single-label classes: compare "
    "paper_f1 with our accuracy column, not with F1."
)


# --------------------------------------------------------------------------- plots
def plot_confusion(tables: ConfusionTables, title: str, path: Path) -> None:
    """Counts, with row % (recall) and column % (precision) in each cell."""
    from matplotlib.figure import Figure  # deferred: heavy

    fig = Figure(figsize=(5.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(tables.row_pct, cmap="Blues", vmin=0, vmax=100)
    for i in range(N_CLASSES):
        for j in range(N_CLASSES):
            ax.text(j, i, f"{tables.counts[i, j]}\nrow {tables.row_pct[i, j]:.1f}%\n"
                    f"col {tables.col_pct[i, j]:.1f}%", ha="center", va="center", fontsize=8,
                    color="white" if tables.row_pct[i, j] > 60 else "black")
    ax.set_xticks(range(N_CLASSES), CLASS_NAMES)
    ax.set_yticks(range(N_CLASSES), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=110)


def roc_frames(y: np.ndarray, proba: np.ndarray) -> dict[int, pd.DataFrame]:
    """One-vs-rest ROC points per class present with both signs in ``y``."""
    frames = {}
    for k in range(N_CLASSES):
        positive = np.asarray(y) == k
        if 0 < positive.sum() < len(positive):
            fpr, tpr, thr = roc_curve(positive, proba[:, k])
            frames[k] = pd.DataFrame({"fpr": fpr, "tpr": tpr,
                                      "threshold": np.minimum(thr, 1.0)})
    return frames


def plot_roc(frames: Mapping[int, pd.DataFrame], aucs: Mapping[int, float], title: str,
             path: Path) -> None:
    from matplotlib.figure import Figure  # deferred: heavy

    fig = Figure(figsize=(4.6, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for k, frame in frames.items():
        ax.plot(frame["fpr"], frame["tpr"], label=f"{k} {CLASS_NAMES[k]} (AUC {aucs[k]:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, dpi=110)


def plot_ternary(y: np.ndarray, proba: np.ndarray, title: str, path: Path) -> None:
    """Each test window as a point of the probability simplex, coloured by its true class."""
    import mpltern  # noqa: F401  (registers the "ternary" projection; deferred: heavy)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.4, 5.2), layout="constrained")
    ax = fig.add_subplot(projection="ternary")
    for k in range(N_CLASSES):
        sel = np.asarray(y) == k
        ax.scatter(proba[sel, 0], proba[sel, 1], proba[sel, 2], s=6, alpha=0.5,
                   label=f"true {k} {CLASS_NAMES[k]}")
    ax.set_tlabel(f"P({CLASS_NAMES[0]})")
    ax.set_llabel(f"P({CLASS_NAMES[1]})")
    ax.set_rlabel(f"P({CLASS_NAMES[2]})")
    ax.set_title(title, fontsize=9, pad=28)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(-0.15, 1.1))
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------- tables
# Table columns with an interval: shown as "0.41 [0.33, 0.49]" in markdown; the CSV keeps
# the three numbers as "<column>", "<column> ci_low", "<column> ci_high".
CI_COLUMNS = {"F1": "f1_weighted", "MCC": "mcc", "accuracy": "accuracy",
              "F1 (event-weighted)": "f1_weighted_ew", "MCC (event-weighted)": "mcc_ew"}


def _row(metrics: Mapping[str, float]) -> dict[str, float]:
    row: dict[str, float] = {}
    for column, key in CI_COLUMNS.items():
        row[column] = metrics[key]
        row[f"{column} ci_low"] = metrics.get(f"{key}_ci_low", math.nan)
        row[f"{column} ci_high"] = metrics.get(f"{key}_ci_high", math.nan)
    return {**row, **{f"AUC class {k}": metrics[f"auc_class{k}"] for k in range(N_CLASSES)}}


def markdown_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as text: interval columns folded into ``0.41 [0.33, 0.49]``, others 4 decimals."""
    shown = frame.copy()
    for column in CI_COLUMNS:
        if column not in shown.columns:
            continue
        low, high = f"{column} ci_low", f"{column} ci_high"
        shown[column] = [
            ("n/a" if v != v else f"{v:.2f}") if lo != lo or hi != hi else format_ci(v, lo, hi)
            for v, lo, hi in zip(frame[column], frame[low], frame[high], strict=True)]
        shown = shown.drop(columns=[low, high])
    return shown.map(lambda v: (f"{v:.4f}" if v == v else "n/a") if isinstance(v, float) else v)


def table1(results: Mapping[str, Any]) -> pd.DataFrame:
    """The paper's Table 1 rows DT (direct, TS1), IT (base, DEMETER TS0), TL (transfer, TS1)."""
    rows = []
    for row, key, test_set in (("DT", "direct", "TS1"), ("IT", "base", "TS0"),
                               ("TL", "transfer", "TS1")):
        if key in results:
            rows.append({"row": row, "model": STAGE_MODELS[key], "test set": test_set,
                         **_row(results[key]), **PAPER_TABLE1[row]})
    return pd.DataFrame(rows)


def table2(results: Mapping[str, Any]) -> pd.DataFrame:
    """The paper's Table 2: every classifier trained on CSES (dataset 07), tested on TS1."""
    entries = [(name, BASELINE_NAMES.get(name, name.upper()), m)
               for name, m in results.get("baselines", {}).items()]
    entries += [(key, STAGE_MODELS[key], results[key]) for key in ("direct", "transfer")
                if key in results]
    rows = []
    for key, label, metrics in entries:
        paper = PAPER_TABLE2.get(key, {})
        rows.append({"model": label, **_row(metrics),
                     "paper_f1": paper.get("paper_f1", math.nan),
                     "paper_mcc": paper.get("paper_mcc", math.nan),
                     "paper_note": paper.get("paper_note", "")})
    return pd.DataFrame(rows)


def data_header(cfg: Config) -> str:
    kind = "simulated Ne/Te" if cfg.data_kind == "simulated" else "real Ne/Te"
    return (f"Computed on {kind} (data_kind={cfg.data_kind}); CSES dataset "
            f"{cfg.train.target_dataset}, DEMETER dataset {cfg.train.base_dataset}.")


def write_table(frame: pd.DataFrame, title: str, header: str, note: str, stem: Path) -> None:
    """Markdown (with the data header) and CSV (with it as a leading comment line)."""
    table = markdown_frame(frame).to_markdown(index=False, disable_numparse=True)
    stem.with_suffix(".md").write_text(f"# {title}\n\n{header}\n\n{table}\n\n{note}\n")
    with stem.with_suffix(".csv").open("w") as fh:
        fh.write(f"# {header}\n")
        frame.to_csv(fh, index=False, float_format="%.6g")


# --------------------------------------------------------------------------- the stage
def headline_only(results: Mapping[str, Any]) -> dict[str, Any]:
    """The reports/metrics.json part of the results: per model the headline keys only."""
    return {key: headline_only(value) if key == "baselines" else
            {k: value[k] for k in HEADLINE_KEYS if k in value}
            for key, value in results.items()}


def evaluate_model(pred: Predictions, slug: str, title: str,
                   plots: Mapping[str, Path], bootstrap_samples: int = 1000,
                   bootstrap_seed: int = 0) -> dict[str, float]:
    """Metrics of one model (headline with intervals first); its figures and DVC plot data go
    to the ``plots`` folders."""
    metrics = {**headline_metrics(pred, bootstrap_samples, bootstrap_seed), **all_metrics(pred)}
    hard = pred.proba.argmax(axis=1)
    tables = confusion_tables(pred.y, hard)
    plot_confusion(tables, f"{title}: confusion (test)",
                   plots["figures"] / f"confusion_{slug}.png")
    frames = roc_frames(pred.y, pred.proba)
    plot_roc(frames, {k: metrics[f"auc_class{k}"] for k in frames}, f"{title}: ROC (test)",
             plots["figures"] / f"roc_{slug}.png")
    plot_ternary(pred.y, pred.proba, f"{title}: test probabilities",
                 plots["figures"] / f"ternary_{slug}.png")
    # DVC plot data: `dvc plots diff` draws these (confusion template; x=fpr, y=tpr).
    pd.DataFrame({"actual": pred.y, "predicted": hard}).to_csv(
        plots["confusion"] / f"{slug}.csv", index=False)
    for k, frame in frames.items():
        frame.to_csv(plots["roc"] / f"{slug}_class{k}.csv", index=False, float_format="%.6g")
    return metrics


def run_stage(cfg: Config, models_dir: str | Path = LAYOUT.models_dir,
              reports_dir: str | Path = LAYOUT.reports_dir) -> dict[str, Any]:
    """Evaluate every trained model; write metrics.json, plots and tables; log one MLflow run."""
    models_dir, reports_dir = Path(models_dir), Path(reports_dir)
    found = stage_predictions(models_dir)
    if not found:
        raise FileNotFoundError(f"{models_dir}: no */predictions.npz to evaluate")
    results: dict[str, Any] = {}
    # One atomic folder per DVC plots output; other stages may own other folders of plots/.
    with contextlib.ExitStack() as stack:
        plots = {sub: stack.enter_context(atomic_path(reports_dir / "plots" / sub))
                 for sub in PLOT_DIRS}
        for tmp in plots.values():
            tmp.mkdir()
        boot = (cfg.evaluate.bootstrap_samples, cfg.evaluate.bootstrap_seed)
        for key, path in found.items():
            if key == "baselines":
                results["baselines"] = {
                    name: evaluate_model(Predictions.load(p), name,
                                         BASELINE_NAMES.get(name, name), plots, *boot)
                    for name, p in path.items()}
            else:
                results[key] = evaluate_model(Predictions.load(path), key, STAGE_MODELS[key],
                                              plots, *boot)
    header = data_header(cfg)
    tables_dir = reports_dir / "tables"
    with atomic_path(tables_dir) as tmp:
        tmp.mkdir()
        write_table(table1(results), "Table 1: direct (DT), initial (IT), transfer (TL)",
                    header, f"paper_*: Xiong et al. 2021, Results section. {TABLE_NOTE}",
                    tmp / "table1")
        write_table(table2(results), "Table 2: all classifiers on TS1", header,
                    f"Paper: {PAPER_TABLE2_RANGE}; other rows not published per model. "
                    f"{TABLE_NOTE}", tmp / "table2")
    payload = {"data_kind": cfg.data_kind, **json_safe(results)}
    headline = {"data_kind": cfg.data_kind, **json_safe(headline_only(results))}
    write_json(payload, reports_dir / "metrics_details.json")
    write_json(headline, reports_dir / "metrics.json")

    with tracking.stage_run(cfg, "evaluate", params={"models": sorted(
            [k for k in found if k != "baselines"] + list(found.get("baselines", {})))}):
        import mlflow  # deferred: heavy

        mlflow.log_metrics(without_nan(tracking.flatten(results)))
        mlflow.log_artifact(str(reports_dir / "metrics.json"))
        mlflow.log_artifact(str(reports_dir / "metrics_details.json"))
        for sub in PLOT_DIRS:
            mlflow.log_artifacts(str(reports_dir / "plots" / sub), artifact_path=f"plots/{sub}")
        mlflow.log_artifacts(str(tables_dir), artifact_path="tables")
        log_plots_to_training_runs(found, reports_dir / "plots" / "figures")
    return payload


def log_plots_to_training_runs(found: Mapping[str, Any], figures: Path) -> int:
    """Each model's figures also on its own training run (models/<stage>/mlflow.json), where
    its registered version points; returns how many were logged. Runs of another tracking
    store are skipped."""
    from mlflow import MlflowClient  # deferred: heavy
    from mlflow.exceptions import MlflowException

    client, logged = MlflowClient(), 0
    models = [(k, p) for k, p in found.items() if k != "baselines"]
    models += list(found.get("baselines", {}).items())
    for slug, predictions in models:
        record = Path(predictions).parent / RUN_RECORD_FILE
        if not record.is_file():
            continue
        run_id = json.loads(record.read_text())["run_id"]
        for kind in ("confusion", "roc", "ternary"):
            png = figures / f"{kind}_{slug}.png"
            if not png.is_file():
                continue
            try:
                client.log_artifact(run_id, str(png), artifact_path="plots")
            except MlflowException:
                break
            logged += 1
    return logged
