"""The ``benchmark`` DVC stage: truth ceiling and detection efficiency of the trained models.

Reads the windows (``data/processed/<dataset>/``), every training stage's ``predictions.npz``
and the injection truth beside the raw files; writes

- ``reports/benchmark.json`` (DVC metrics): per dataset ``ceiling_mcc``; per model (and the
  truth-trained reference, ``truth_trained``: benchmark/reference.py) and amplitude
  scale ``mcc``, ``mcc_ci_low``, ``mcc_ci_high``, ``recall_at_far``; per model ``a50``; per twin
  (``zero_amplitude``, ``location_matched``, ``time_shuffled``) and model ``mcc`` with its interval;
  ``raw_channels``: the same figures per model and scale of the variants on the paper's raw channels
  (``ne_cm3``, ``te_k``), kept out of the sweep and the twins, and under ``raw_channels.paired`` per
  model and scale the residual-minus-raw MCC on the same test windows (``mcc_diff`` with its
  interval, ``share_above_0``, ``n_events``, ``n_windows``), events resampled together, from the
  test-window tables collect copies into ``reports/benchmark_sweep/<variant>/`` (pinned by their md5
  in the sweep file); ``other_channels``: one entry per further channel set of the sweep
  (``benchmark.channel_sets``, e.g. ``ne_detr``, ``te_detr``) with the same figures, its
  ``paired`` being that set minus raw. Scales other than this run's, the twins and the channel
  variants come from the sweep file (``reports/benchmark_sweep.json``, written by
  ``seqnetquake benchmark collect``);
- ``reports/benchmark_details.json``: this run's curves and counts (what the sweep collects);
- ``reports/benchmark.md`` and ``reports/plots/benchmark/`` (figures, curve CSVs);
- ``reports/benchmark/windows_<dataset>_<split>.parquet``: per test window its label, oracle
  label, injected amplitude and each model's P(seismic) and prediction, side by side.

Validation windows are re-cut from ``train.npz`` exactly as training cut them
(``windowset.fit_validation_split``) and checked against ``y_val``/``event_id_val``; test windows
are checked against ``t0``/``y``. One MLflow run, tags ``data_kind``, ``amplitude_scale``,
``controls``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqnetquake import tracking
from seqnetquake.benchmark import efficiency as eff
from seqnetquake.benchmark import reference
from seqnetquake.benchmark.truth import read_truth, window_truth
from seqnetquake.config import Config
from seqnetquake.contracts import STAGE_METRICS_FILE
from seqnetquake.errors import InputError
from seqnetquake.fileio import atomic_path, write_json
from seqnetquake.metrics import (
    event_bootstrap,
    format_ci,
    json_safe,
    paired_event_bootstrap,
    without_nan,
)
from seqnetquake.predictions import BASELINE_NAMES, STAGE_MODELS, Predictions, stage_predictions
from seqnetquake.windowcheck import PHYSICAL_CHANNELS
from seqnetquake.windowset import WindowSet, fit_validation_split, load_dataset

TWINS = ("zero_amplitude", "location_matched", "time_shuffled")
TWIN_TOLERANCE = 0.05
STAGE_ORDER = ("transfer", "direct", "base")  # a twin's MCC outside 0 +- this is flagged
RAW_CHANNELS = tuple(PHYSICAL_CHANNELS)  # ne_cm3, te_k: the paper's input
SCALE_FIGURES = ("mcc", "mcc_ci_low", "mcc_ci_high", "recall_at_far")  # per model and scale
SWEEP_FILE = Path("reports/benchmark_sweep.json")  # written by `seqnetquake benchmark collect`
WINDOW_KEYS = ["t0", "half_orbit_id", "event_id"]  # one test window, whatever run scored it
SIMULATED_WARNING = (
    "**Simulated data.** Ne/Te here are simulated (docs/simulator.md): these figures say "
    "whether a model finds the perturbations the simulator injected, nothing about real "
    "earthquakes."
)


def controls(cfg: Config) -> str:
    """Which control this run is: none, or one of the twins."""
    if cfg.simulate.precursor.amplitude_scale == 0:
        return "zero_amplitude"
    if cfg.catalog.artificial.mode == "location_matched":
        return "location_matched"
    if cfg.catalog.shuffle.mode == "time_shuffled":
        return "time_shuffled"
    return "none"


def scale_key(scale: float) -> str:
    return f"{float(scale):g}"


def split_sweep(run: dict[str, Any], sweep: dict[str, Any]) -> tuple[list, dict[tuple, list]]:
    """The sweep's runs: (those on this run's channels, {other channels: their runs}); a run
    that records no channels (details written before channels were) had this run's."""
    mine = tuple(run.get("channels") or ())
    same: list[dict[str, Any]] = []
    other: dict[tuple, list] = {}
    for v in sweep["variants"].values():
        if "run" in v:
            channels = tuple(v["run"].get("channels") or mine)
            (same if channels == mine else other.setdefault(channels, [])).append(v["run"])
    return same, other


def model_names(found: dict[str, Any]) -> dict[str, Path]:
    """Flat {model key: predictions path}; baselines by their name."""
    flat = {k: v for k, v in found.items() if k != "baselines"}
    flat.update(found.get("baselines", {}))
    return flat


def display_name(key: str) -> str:
    if key == reference.KEY:
        return reference.NAME
    return STAGE_MODELS.get(key) or BASELINE_NAMES.get(key, key)


def model_dataset(cfg: Config, key: str) -> str:
    return cfg.train.base_dataset if key == "base" else cfg.train.target_dataset


# --------------------------------------------------------------------------- joins
def check_test(pred: Predictions, test: WindowSet, path: Path) -> None:
    """Predictions must be of the test windows, in order."""
    if len(pred.y) != len(test):
        raise InputError(path, "y", f"{len(pred.y)} predictions for {len(test)} test windows")
    same_t0 = np.array_equal(np.asarray(pred.t0, dtype="datetime64[ns]"),
                             np.asarray(test.t0, dtype="datetime64[ns]"))
    if not same_t0 or not np.array_equal(pred.y, test.y):
        raise InputError(path, "t0", "predictions are not of this dataset's test windows")


def check_val(pred: Predictions, val: WindowSet, path: Path) -> None:
    """Validation predictions must be of the windows training cut off as validation."""
    if len(pred.y_val) != len(val) or not np.array_equal(pred.y_val, val.y) or not (
            np.array_equal(np.asarray(pred.event_id_val).astype(str), val.event_id.astype(str))):
        raise InputError(path, "y_val", "not the validation split of train.npz (tuning."
                         "validation_fraction or validation_gap_days changed since training?)")


# --------------------------------------------------------------------------- the run
def evaluate_run(cfg: Config, models_dir: Path, data_dir: Path) -> dict[str, Any]:
    """This run's ceilings, per-model detection figures and the truth-trained reference on the
    target dataset (plus the window tables)."""
    bcfg = cfg.benchmark
    found = model_names(stage_predictions(models_dir))
    if not found:
        raise FileNotFoundError(f"{models_dir}: no */predictions.npz to benchmark")
    datasets: dict[str, Any] = {}
    windows: dict[str, pd.DataFrame] = {}
    cache: dict[str, Any] = {}
    for ds in sorted({model_dataset(cfg, k) for k in found}):
        satellite = cfg.datasets[ds].satellite
        truth = read_truth(cfg.tracks.raw_dirs[satellite])
        train, test = load_dataset(data_dir / ds)
        fit, val = fit_validation_split(train, cfg)
        sets = {"train": train, "fit": fit, "val": val, "test": test}
        wt = {name: window_truth(ws.t0, ws.half_orbit_id, ws.T, cfg.tracks.cadence_s, truth)
              for name, ws in sets.items()}
        splits = {name: eff.ceiling(ws.y, wt[name].injected, ws.event_id,
                                    n_samples=bcfg.bootstrap_samples, seed=bcfg.seed)
                  for name, ws in (("train", train), ("test", test))}
        datasets[ds] = {"satellite": satellite, **splits["test"], "splits": splits}
        cache[ds] = (sets, wt)
        windows[ds] = pd.DataFrame({
            "t0": pd.to_datetime(test.t0, utc=True), "half_orbit_id": test.half_orbit_id,
            "event_id": test.event_id.astype(str), "y": test.y,
            "oracle": eff.oracle_labels(test.y, wt["test"].injected),
            "injected": wt["test"].injected, "amplitude_ne_rel": wt["test"].amplitude,
            "truth_event_id": wt["test"].truth_event,
        })

    def scored(key: str, ds: str, proba: np.ndarray, proba_val: np.ndarray,
               alarms_predict: bool = False) -> dict[str, Any]:
        """MCC [CI] and detection efficiency of one model's probabilities (its predictions the
        argmax, or its alarms at the false-alarm threshold); its table columns."""
        sets, wt = cache[ds]
        test, val = sets["test"], sets["val"]
        det = eff.detection(
            proba_val[:, 1], (val.y == 0) & ~wt["val"].injected, proba[:, 1],
            eff.oracle_labels(test.y, wt["test"].injected) == 1,
            (test.y == 0) & ~wt["test"].injected, wt["test"].amplitude,
            wt["test"].truth_event, bcfg.far, n_samples=bcfg.bootstrap_samples, seed=bcfg.seed)
        hard = ((proba[:, 1] > det["threshold"]).astype(np.int64) if alarms_predict
                else np.asarray(proba).argmax(axis=1))
        boot = event_bootstrap(test.y, hard, test.event_id, n_samples=bcfg.bootstrap_samples,
                               seed=bcfg.seed)
        windows[ds][f"p_seismic_{key}"] = proba[:, 1]
        windows[ds][f"pred_{key}"] = hard
        return {"dataset": ds, "name": display_name(key),
                **{k: boot[k] for k in ("mcc", "mcc_ci_low", "mcc_ci_high")}, **det}

    models: dict[str, Any] = {}
    for key, path in found.items():
        ds = model_dataset(cfg, key)
        sets, _ = cache[ds]
        pred = Predictions.load(path)
        check_test(pred, sets["test"], path)
        check_val(pred, sets["val"], path)
        models[key] = {**scored(key, ds, np.asarray(pred.proba), np.asarray(pred.proba_val)),
                       "event_level": event_level(path.parent / STAGE_METRICS_FILE)}
    ds = cfg.train.target_dataset
    if ds in cache:
        sets, wt = cache[ds]
        proba_val, proba = reference.truth_trained_proba(sets["fit"], wt["fit"].injected,
                                                         sets["val"], sets["test"])
        models[reference.KEY] = scored(reference.KEY, ds, proba, proba_val,
                                       alarms_predict=True)
    return {"amplitude_scale": cfg.simulate.precursor.amplitude_scale,
            "controls": controls(cfg), "channels": list(cfg.windows.features),
            "far": bcfg.far, "datasets": datasets,
            "models": models, "_windows": windows}


def event_level(metrics_path: Path) -> dict[str, float]:
    """The training stage's test event-level figures (``test_eq*``), for the twin check."""
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {k: v for k, v in metrics.items()
            if k.startswith("test_eq") and isinstance(v, (int, float))
            and not k.endswith(("_n_events", "_threshold"))}  # figures, not settings


# --------------------------------------------------------------------------- merge with sweep
def sweep_windows_dir(sweep_path: Path) -> Path:
    """Where collect copies each variant's test-window tables: ``reports/benchmark_sweep/``."""
    return Path(sweep_path).with_suffix("")


def read_sweep(path: Path | None) -> dict[str, Any]:
    """The collected sweep; each variant's test windows (when collected) as ``run._windows``."""
    if path is None or not Path(path).exists():
        return {"variants": {}}
    try:
        sweep = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise InputError(path, "file", f"not JSON: {exc}") from exc
    if not isinstance(sweep.get("variants"), dict):
        raise InputError(path, "variants", "expected an object of sweep variants")
    for name, v in sweep["variants"].items():
        tables = {}
        for file, md5 in v.get("window_tables", {}).items():
            table = sweep_windows_dir(Path(path)) / name / file
            if not table.is_file() or hashlib.md5(table.read_bytes()).hexdigest() != md5:
                raise InputError(table, "md5", f"missing or not the table {path} recorded: "
                                 "re-run `seqnetquake benchmark collect`")
            tables[file.split("_")[1]] = pd.read_parquet(table)  # windows_<ds>_test.parquet
        if tables and "run" in v:
            v["run"]["_windows"] = tables
    return sweep


def summarise(run: dict[str, Any], sweep: dict[str, Any], *, n_samples: int = 1000,
              seed: int = 0) -> dict[str, Any]:
    """benchmark.json: this run plus every collected sweep variant (issue 9 schema); the
    variants on other channels under ``raw_channels`` and ``other_channels`` only
    (``n_samples``/``seed``: their paired bootstrap)."""
    same, other = split_sweep(run, sweep)
    raw = other.pop(RAW_CHANNELS, [])
    runs = [run, *same]
    out: dict[str, Any] = {
        "far": run["far"], "datasets": {}, "models": {}, "twins": {}, "ceiling_by_scale": {},
        "raw_channels": channel_figures(raw, runs, raw, n_samples, seed),
        "other_channels": [channel_figures(set_runs, set_runs, raw, n_samples, seed)
                           for set_runs in other.values()]}
    for ds, d in run["datasets"].items():
        out["datasets"][ds] = {k: d[k] for k in (
            "ceiling_mcc", "ceiling_mcc_ci_low", "ceiling_mcc_ci_high", "ceiling_f1_weighted",
            "ceiling_f1_weighted_ci_low", "ceiling_f1_weighted_ci_high", "ceiling_mcc_binary",
            "class1_injected_share")}
    curves: dict[str, list] = {}
    for r in runs:
        scale = scale_key(r["amplitude_scale"])
        if r["controls"] in ("none", "zero_amplitude"):
            for ds, d in r["datasets"].items():
                out["ceiling_by_scale"].setdefault(ds, {})[scale] = d["ceiling_mcc"]
            for key, m in r["models"].items():
                entry = out["models"].setdefault(key, {"a50": None, "scales": {}})
                entry["scales"][scale] = {k: m[k] for k in SCALE_FIGURES}
                curves.setdefault(key, []).append(m["curve"])
        if r["controls"] != "none":
            for key, m in r["models"].items():
                out["twins"].setdefault(r["controls"], {})[key] = {
                    k: m[k] for k in ("mcc", "mcc_ci_low", "mcc_ci_high")}
    for key, entry in out["models"].items():
        entry["a50"] = eff.a50(eff.pooled_curve(curves.get(key, [])))
    return out


def channel_figures(set_runs: list[dict[str, Any]], minuend: Sequence[dict[str, Any]],
                    raw_runs: Sequence[dict[str, Any]], n_samples: int = 1000,
                    seed: int = 0) -> dict[str, Any]:
    """One channel set's entry: its channels, per model and amplitude scale MCC [CI] and
    recall, and ``paired``: MCC of ``minuend`` (this run's channels for the raw entry, the set
    itself otherwise) minus raw on the same test windows, at each scale where both have their
    window tables."""
    channels = list(dict.fromkeys(c for r in set_runs for c in r["channels"]))
    out: dict[str, Any] = {"channels": channels or list(RAW_CHANNELS), "models": {},
                           "paired": {}}
    for r in set_runs:
        if r["controls"] not in ("none", "zero_amplitude"):
            continue  # a twin on these channels is no amplitude point
        scale = scale_key(r["amplitude_scale"])
        for key, m in r["models"].items():
            out["models"].setdefault(key, {"scales": {}})["scales"][scale] = {
                k: m[k] for k in SCALE_FIGURES}
    tables = {scale_key(r["amplitude_scale"]): r.get("_windows") for r in minuend
              if r["controls"] in ("none", "zero_amplitude")}
    for r in raw_runs:
        scale = scale_key(r["amplitude_scale"])
        if tables.get(scale) and r.get("_windows"):
            for key, diff in paired_difference(tables[scale], r["_windows"], n_samples,
                                               seed).items():
                out["paired"].setdefault(key, {})[scale] = diff
    for entry in out["models"].values():
        entry["scales"] = _by_scale(entry["scales"])
    out["paired"] = {key: _by_scale(d) for key, d in out["paired"].items()}
    return out


def _by_scale(d: dict[str, Any]) -> dict[str, Any]:
    """Scale keys ("0.5", "1", "4") in numeric order."""
    return dict(sorted(d.items(), key=lambda kv: float(kv[0])))


def paired_difference(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame],
                      n_samples: int, seed: int) -> dict[str, dict[str, float]]:
    """Per model, MCC of run ``a`` minus run ``b`` on the test windows both scored (by
    dataset), events resampled together (``metrics.paired_event_bootstrap``)."""
    out: dict[str, dict[str, float]] = {}
    for ds, frame_a in a.items():
        if ds not in b:
            continue
        both = frame_a.merge(b[ds], on=WINDOW_KEYS, suffixes=("", "_b"))
        if not (both["y"] == both["y_b"]).all():
            raise ValueError(f"dataset {ds}: the same test window has different labels in the "
                             "two runs (not the same catalogue)")
        for col in frame_a.columns:
            if col.startswith("pred_") and col in b[ds].columns:
                diff = paired_event_bootstrap(both["y"].to_numpy(), both[col].to_numpy(),
                                              both[f"{col}_b"].to_numpy(),
                                              both["event_id"].to_numpy(),
                                              n_samples=n_samples, seed=seed)
                out[col.removeprefix("pred_")] = {**diff, "n_windows": len(both)}
    return out


def flags(summary: dict[str, Any], run: dict[str, Any], sweep: dict[str, Any]) -> list[str]:
    """Twins outside 0 +- 0.05; event-level figures the location-matched twin does not keep."""
    out = []
    for twin, per_model in summary["twins"].items():
        for key, m in per_model.items():
            if key == reference.KEY:  # knows the truth: its twin is no control of a model
                continue
            if m["mcc"] is not None and abs(m["mcc"]) > TWIN_TOLERANCE:
                out.append(f"{display_name(key)}: {twin} twin MCC {m['mcc']:.3f} is outside "
                           f"0 +- {TWIN_TOLERANCE}")
    located = [r for r in split_sweep(run, sweep)[0] if r.get("controls") == "location_matched"]
    for twin_run in located:
        for key, m in run["models"].items():
            twin_eq = twin_run["models"].get(key, {}).get("event_level", {})
            for name, value in m.get("event_level", {}).items():
                other = twin_eq.get(name)
                if other is not None and value is not None and value - other > TWIN_TOLERANCE:
                    out.append(f"{display_name(key)}: event-level {name} {value:.3f} not "
                               f"reproduced by the location-matched twin ({other:.3f})")
    return out


# --------------------------------------------------------------------------- report
def _fmt(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else (
        f"{value:.{digits}f}")


def _ci(m: dict[str, Any] | None) -> str:
    if not m or m.get("mcc") is None:
        return "n/a"
    if m.get("mcc_ci_low") is None or m.get("mcc_ci_high") is None:
        return _fmt(m["mcc"])
    return format_ci(m["mcc"], m["mcc_ci_low"], m["mcc_ci_high"])


def _paired(d: dict[str, Any] | None) -> str:
    """Two table cells: the paired difference [CI] and P(difference > 0)."""
    if d is None:
        return "n/a | n/a"
    as_mcc = {"mcc": d["mcc_diff"], "mcc_ci_low": d["mcc_diff_ci_low"],
              "mcc_ci_high": d["mcc_diff_ci_high"]}
    return f"{_ci(as_mcc)} | {_fmt(d['share_above_0'])}"


def ordered(models: dict[str, Any]) -> list[str]:
    """Headline models first (TL, DT, IT), then the baselines by name, the reference last."""
    head = [k for k in STAGE_ORDER if k in models]
    tail = [reference.KEY] if reference.KEY in models else []
    return head + sorted(k for k in models if k not in (*STAGE_ORDER, *tail)) + tail


def results_table(summary: dict[str, Any], run: dict[str, Any]) -> str:
    """README's Results table: model | MCC [CI] | ceiling | ratio | twins | null | A50."""
    rows = ["| model | MCC [CI] | ceiling | ratio | zero-amplitude twin | location-matched twin "
            "| null | A50 |", "|---|---|---|---|---|---|---|---|"]
    for key in ordered(run["models"]):
        m = run["models"][key]
        ceiling = summary["datasets"][m["dataset"]]["ceiling_mcc"]
        ratio = m["mcc"] / ceiling if ceiling else None
        twin = {t: summary["twins"].get(t, {}).get(key) for t in TWINS}
        a50 = summary["models"].get(key, {}).get("a50")
        rows.append(f"| {display_name(key)} | {_ci(m)} | {_fmt(ceiling)} | {_fmt(ratio)} | "
                    f"{_ci(twin['zero_amplitude'])} | {_ci(twin['location_matched'])} | "
                    f"{_ci(twin['time_shuffled'])} | {_fmt(a50, 3)} |")
    return "\n".join(rows)


def channels_section(summary: dict[str, Any], run: dict[str, Any]) -> list[str]:
    """benchmark.md: the same models on raw channels, on this run's and on every other
    collected channel set, at the scales of the raw variants; each non-raw set's paired
    difference to raw. Nothing when no raw variant was collected."""
    raw = summary.get("raw_channels", {})
    if not raw.get("models"):
        return []
    this = {"channels": run.get("channels", ["?"]), "paired": raw.get("paired", {}),
            "models": summary["models"]}
    sets = [this, *summary.get("other_channels", [])]
    rows = []
    for key in ordered({k: None for k in raw["models"]}):
        for scale in sorted(raw["models"][key]["scales"], key=float):
            b = raw["models"][key]["scales"][scale]
            rows.append(f"| {display_name(key)} | {scale} | {', '.join(raw['channels'])} | "
                        f"{_ci(b)} | {_fmt(b['recall_at_far'])} | | |")
            for entry in sets:
                a = entry["models"].get(key, {}).get("scales", {}).get(scale)
                if a is not None:
                    d = entry["paired"].get(key, {}).get(scale)
                    rows.append(f"| {display_name(key)} | {scale} | "
                                f"{', '.join(entry['channels'])} | {_ci(a)} | "
                                f"{_fmt(a['recall_at_far'])} | {_paired(d)} |")
    paired = any(entry["paired"] for entry in sets)
    return ["", "## Raw channels (the paper's input) vs residual channels", "",
            "The same models trained on the raw channels "
            f"(`{', '.join(raw['channels'])}`, experiments `bench-raw-scale-*`), on this run's "
            f"channels (`{', '.join(this['channels'])}`) and on every other channel set of "
            "`benchmark.channel_sets` (experiments `bench-<set>-scale-*`) at the same amplitude "
            "scales: window MCC with event-bootstrap 95 % intervals, recall of injected windows "
            f"at {run['far']:.0%} false alarms. Kept out of the amplitude sweep, A50 and the "
            "twins. A set beats raw when its paired difference's interval (the same test "
            "events resampled for both; two separate intervals overlap long before) lies above "
            "0; P(Δ > 0) is the share of resamples in which it does.", "",
            "| model | scale | channels | MCC [CI] | recall@FAR | Δ MCC vs raw [CI], paired | "
            "P(Δ > 0) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            *([] if paired else [
                "", "Paired differences n/a: this sweep file holds no test-window tables "
                f"(`{sweep_windows_dir(SWEEP_FILE).as_posix()}/`, which `seqnetquake benchmark "
                "collect` copies since they were added); re-run `make benchmark`."])]


GOAL_SCALES = ("1", "4")  # the default amplitude and four times it (issue 10's goals)
GOAL_CEILING_SHARE = 0.6  # x4 MCC goal: this share of the truth ceiling


def goals_section(summary: dict[str, Any], run: dict[str, Any]) -> list[str]:
    """benchmark.md: SeqNetQuake TL and DT against the benchmark's goals (docs/benchmark.md),
    each cell the figure and whether it meets the goal; n/a where a variant is not collected."""
    heads = [k for k in ("transfer", "direct") if k in summary["models"]]
    if not heads:
        return []
    far = run["far"]
    others = [k for k in summary["models"] if k not in (*STAGE_ORDER, reference.KEY)]

    def scale(key: str, s: str) -> dict[str, Any] | None:
        return summary["models"].get(key, {}).get("scales", {}).get(s)

    def cell(value: float | None, ok: bool | None) -> str:
        return "n/a" if value is None or ok is None else f"{value:.2f} {'yes' if ok else 'no'}"

    def recall_x1(key: str) -> str:
        m = scale(key, "1")
        r = m and m.get("recall_at_far")
        return cell(r, None if r is None else r >= 0.5)

    def share_x4(key: str) -> str:
        m, ceiling = scale(key, "4"), summary["ceiling_by_scale"].get(
            run["models"].get(key, {}).get("dataset"), {}).get("4")
        if not m or not ceiling or m["mcc"] is None:
            return "n/a"
        return cell(m["mcc"] / ceiling, m["mcc"] >= GOAL_CEILING_SHARE * ceiling)

    def above_others(key: str) -> str:
        m = scale(key, "4")
        rivals = [(scale(o, "4") or {}).get("mcc") for o in others]
        rivals = [r for r in rivals if r is not None]
        if not m or m["mcc"] is None or not rivals:
            return "n/a"
        return cell(m["mcc"] - max(rivals), m["mcc"] > max(rivals))

    def twin(key: str) -> str:
        m = summary["twins"].get("zero_amplitude", {}).get(key)
        if not m or m["mcc"] is None:
            return "n/a"
        return cell(m["mcc"], abs(m["mcc"]) <= TWIN_TOLERANCE)

    def beats_raw(key: str, s: str) -> str:
        d = summary.get("raw_channels", {}).get("paired", {}).get(key, {}).get(s)
        return "n/a" if d is None else cell(d["mcc_diff_ci_low"], d["mcc_diff_ci_low"] > 0)

    rows = [
        (f"recall of injected windows at {far:.0%} false alarms, x1 (A50 at or below x1): "
         ">= 0.5", recall_x1),
        (f"x4 MCC / truth ceiling: >= {GOAL_CEILING_SHARE}", share_x4),
        ("x4 MCC minus the best classical/baseline MCC: > 0", above_others),
        (f"zero-amplitude twin MCC: within 0 +- {TWIN_TOLERANCE}", twin),
        *((f"beats raw channels at x{s}: paired Δ MCC interval's lower end > 0",
           functools.partial(beats_raw, s=s)) for s in GOAL_SCALES),
    ]
    ref = reference.KEY if reference.KEY in summary["models"] else None
    context = [] if ref is None else [
        "", f"What these windows allow ({reference.NAME}, docs/benchmark.md): recall at "
        f"{far:.0%} false alarms at x1 {recall_x1(ref).split()[0]}, x4 MCC / truth ceiling "
        f"{share_x4(ref).split()[0]}."]
    return ["", "## Goals (SeqNetQuake)", "",
            "Each cell: the figure, then whether it meets the goal (docs/benchmark.md, "
            "\"Goals\"); n/a where the sweep variant it needs is not collected.", "",
            "| goal | " + " | ".join(display_name(k) for k in heads) + " |",
            "|---" * (len(heads) + 1) + "|",
            *(f"| {name} | " + " | ".join(fn(k) for k in heads) + " |" for name, fn in rows),
            *context]


def write_markdown(summary: dict[str, Any], run: dict[str, Any], flag_lines: list[str],
                   path: Path, cfg: Config) -> None:
    lines = ["# Injection-recovery benchmark", "", SIMULATED_WARNING, "",
             f"This run: amplitude scale {run['amplitude_scale']:g}, controls "
             f"`{run['controls']}`; false-alarm rate {run['far']:.0%} on class-0 windows "
             "(threshold chosen on validation). Window MCC with event-bootstrap 95 % intervals; "
             "ceiling = the oracle that knows which windows hold injected samples; "
             "A50 = injected |dNe/Ne| at which recall reaches 50 % (pooled over the amplitude "
             "sweep when collected). docs/benchmark.md explains every column.", "",
             results_table(summary, run), "", "## Truth ceiling (oracle labels)", "",
             "| dataset | split | windows | injected | class-1 windows injected | ceiling MCC "
             "[CI] | 0-vs-1 MCC | ceiling F1 [CI] |", "|---|---|---|---|---|---|---|---|"]
    for ds, d in run["datasets"].items():
        for split, c in d["splits"].items():
            mcc = format_ci(c["ceiling_mcc"], c["ceiling_mcc_ci_low"], c["ceiling_mcc_ci_high"])
            f1 = format_ci(c["ceiling_f1_weighted"], c["ceiling_f1_weighted_ci_low"],
                           c["ceiling_f1_weighted_ci_high"])
            lines.append(
                f"| {ds} ({d['satellite']}) | {split} | {int(c['n_windows'])} | "
                f"{int(c['n_injected'])} | {_fmt(c['class1_injected_share'])} | {mcc} | "
                f"{_fmt(c['ceiling_mcc_binary'])} | {f1} |")
    lines += ["", f"## Detection efficiency at {run['far']:.0%} false alarms", "",
              "| model | recall at FAR | test FAR | injected test windows | A50 (this run) |",
              "|---|---|---|---|---|"]
    for key, m in run["models"].items():
        lines.append(f"| {display_name(key)} | {_fmt(m['recall_at_far'])} | "
                     f"{_fmt(m['far_test'])} | {m['n_injected_test']} | {_fmt(m['a50'], 3)} |")
    lines += ["", "Recall per amplitude bin (event-bootstrap 95 % band):", "",
              "| model | " + " | ".join(["|dNe/Ne| bin", "windows", "recall [band]"]) + " |",
              "|---|---|---|---|"]
    for key, m in run["models"].items():
        for r in m["curve"]:
            high = "inf" if r["bin_high"] is None else f"{r['bin_high']:g}"
            band = (f" [{_fmt(r['recall_low'])}, {_fmt(r['recall_high'])}]"
                    if r["recall_low"] is not None else "")
            lines.append(f"| {display_name(key)} | {r['bin_low']:g}-{high} | {r['n']} | "
                         f"{_fmt(r['recall'])}{band} |")
    if summary["models"] and any(len(e["scales"]) > 1 for e in summary["models"].values()):
        scales = sorted({s for e in summary["models"].values() for s in e["scales"]}, key=float)
        lines += ["", "## Amplitude sweep (window MCC)", "",
                  "| model | " + " | ".join(f"scale {s}" for s in scales) + " | A50 (pooled) |",
                  "|---" * (len(scales) + 2) + "|"]
        for key, e in summary["models"].items():
            lines.append(f"| {display_name(key)} | " + " | ".join(
                _ci(e["scales"].get(s)) for s in scales) + f" | {_fmt(e['a50'], 3)} |")
    lines += channels_section(summary, run)
    lines += goals_section(summary, run)
    lines += ["", "## Flags", ""]
    lines += [f"- {f}" for f in flag_lines] or ["- none (or no twins collected yet: "
                                                "`make benchmark`)"]
    lines += ["", "Figures: plots/benchmark/efficiency.png (recall vs amplitude), "
              "plots/benchmark/mcc_vs_scale.png (MCC vs amplitude scale, ceiling line).", ""]
    path.write_text("\n".join(lines))


def plot_efficiency(run: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure  # deferred: heavy

    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for key, m in run["models"].items():
        curve = [r for r in m["curve"] if r["n"] >= eff.MIN_BIN_WINDOWS]
        if not curve:
            continue
        x = [r["amplitude"] for r in curve]
        line, = ax.plot(x, [r["recall"] for r in curve], marker="o", label=display_name(key))
        low = [r["recall_low"] if r["recall_low"] is not None else np.nan for r in curve]
        high = [r["recall_high"] if r["recall_high"] is not None else np.nan for r in curve]
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.08)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.axhline(run["far"], color="red", lw=0.8, ls="--", label=f"FAR {run['far']:.0%}")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("injected |dNe/Ne| in the window (max)")
    ax.set_ylabel("recall of injected windows")
    ax.set_title(f"Detection efficiency (simulated; scale {run['amplitude_scale']:g})",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)


def plot_mcc_vs_scale(summary: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure  # deferred: heavy

    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for key, e in summary["models"].items():
        scales = sorted(e["scales"], key=float)
        x = [float(s) for s in scales]
        y = [e["scales"][s]["mcc"] for s in scales]
        lo = [e["scales"][s]["mcc_ci_low"] for s in scales]
        hi = [e["scales"][s]["mcc_ci_high"] for s in scales]
        line, = ax.plot(x, y, marker="o", label=display_name(key))
        ax.fill_between(x, [np.nan if v is None else v for v in lo],
                        [np.nan if v is None else v for v in hi], color=line.get_color(),
                        alpha=0.12)
    for ds, by_scale in summary["ceiling_by_scale"].items():
        scales = sorted(by_scale, key=float)
        ax.plot([float(s) for s in scales], [by_scale[s] for s in scales], color="black",
                ls="--", label=f"ceiling ({ds})")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("simulate.precursor.amplitude_scale")
    ax.set_ylabel("window MCC (test)")
    ax.set_title("MCC vs injected amplitude scale (simulated)", fontsize=9)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)


def run_stage(cfg: Config, models_dir: str | Path = "models",
              data_dir: str | Path = "data/processed", reports_dir: str | Path = "reports",
              sweep_path: str | Path | None = SWEEP_FILE,
              log_mlflow: bool = True) -> dict[str, Any]:
    """Benchmark every trained model of this run; write the reports; log one MLflow run."""
    models_dir, data_dir, reports_dir = Path(models_dir), Path(data_dir), Path(reports_dir)
    if cfg.data_kind != "simulated":
        payload = {"data_kind": cfg.data_kind, "note": "no injection truth: real data"}
        write_json(payload, reports_dir / "benchmark.json")
        write_json(payload, reports_dir / "benchmark_details.json")
        (reports_dir / "benchmark.md").write_text(
            "# Injection-recovery benchmark\n\nNot applicable: data_kind is real (no truth).\n")
        for sub in ("plots/benchmark", "benchmark"):
            with atomic_path(reports_dir / sub) as tmp:
                tmp.mkdir()
        return payload
    run = evaluate_run(cfg, models_dir, data_dir)
    sweep = read_sweep(Path(sweep_path) if sweep_path else None)
    summary = summarise(run, sweep, n_samples=cfg.benchmark.bootstrap_samples,
                        seed=cfg.benchmark.seed)
    flag_lines = flags(summary, run, sweep)
    payload = json_safe({"data_kind": cfg.data_kind, **summary}, skip_private=True)
    details = json_safe({"data_kind": cfg.data_kind, "run": run, "flags": flag_lines},
                        skip_private=True)
    with contextlib.ExitStack() as stack:
        plots = stack.enter_context(atomic_path(reports_dir / "plots" / "benchmark"))
        tables = stack.enter_context(atomic_path(reports_dir / "benchmark"))
        plots.mkdir()
        tables.mkdir()
        plot_efficiency(run, plots / "efficiency.png")
        plot_mcc_vs_scale(summary, plots / "mcc_vs_scale.png")
        for key, m in run["models"].items():
            pd.DataFrame(m["curve"]).to_csv(plots / f"efficiency_{key}.csv", index=False,
                                            float_format="%.6g")
        for ds, frame in run["_windows"].items():
            frame.to_parquet(tables / f"windows_{ds}_test.parquet", index=False)
    write_json(details, reports_dir / "benchmark_details.json")
    with atomic_path(reports_dir / "benchmark.md") as tmp:
        write_markdown(summary, run, flag_lines, tmp, cfg)
    write_json(payload, reports_dir / "benchmark.json")
    if log_mlflow:
        log_run(cfg, run, reports_dir)
    return payload


def log_run(cfg: Config, run: dict[str, Any], reports_dir: Path) -> None:
    import mlflow  # deferred: heavy

    tags = {"amplitude_scale": scale_key(run["amplitude_scale"]), "controls": run["controls"]}
    with tracking.stage_run(cfg, "benchmark", params={"far": run["far"],
                                                      "amplitude_scale": run["amplitude_scale"]},
                            tags=tags):
        mlflow.log_metrics(run_metrics(run))
        for name in ("benchmark.json", "benchmark_details.json", "benchmark.md"):
            mlflow.log_artifact(str(reports_dir / name))
        mlflow.log_artifacts(str(reports_dir / "plots" / "benchmark"),
                             artifact_path="plots/benchmark")


def run_metrics(run: dict[str, Any]) -> dict[str, float]:
    """Flat finite metrics of one run for MLflow (ceilings, per-model MCC/recall/A50)."""
    flat: dict[str, float] = {}
    for ds, d in run["datasets"].items():
        for k in ("ceiling_mcc", "ceiling_mcc_ci_low", "ceiling_mcc_ci_high",
                  "ceiling_f1_weighted", "ceiling_mcc_binary"):
            flat[f"{ds}.{k}"] = d.get(k)
    for key, m in run["models"].items():
        for k in ("mcc", "mcc_ci_low", "mcc_ci_high", "recall_at_far", "far_test", "a50"):
            flat[f"{key}.{k}"] = m.get(k)
    return {k: float(v) for k, v in without_nan(flat).items()}


README_START = "<!-- benchmark-table:start -->"
README_END = "<!-- benchmark-table:end -->"


def update_readme(readme: Path, reports_dir: Path = Path("reports")) -> str:
    """Rewrite README's Results table (between the benchmark-table markers) from the reports."""
    summary = json.loads((reports_dir / "benchmark.json").read_text())
    run = json.loads((reports_dir / "benchmark_details.json").read_text())["run"]
    sections = []
    for lines in (channels_section(summary, run), goals_section(summary, run)):
        if lines:  # README's Results section: the heading becomes a bold lead-in
            lines[1] = f"**{lines[1].removeprefix('## ')}.**"
        sections += lines
    block = "\n".join([README_START, "", SIMULATED_WARNING, "", results_table(summary, run),
                       *sections, "", README_END])
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise InputError(readme, "benchmark-table", f"markers {README_START} / {README_END} "
                         "not found")
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    with atomic_path(readme) as tmp:
        tmp.write_text(head + block + tail)
    return block
