"""The whole study: every experiment of the paper across datasets 01-11, and alarms.

Two stages of ``study/dvc.yaml`` (``make study``; docs/study.md):

- ``study_train@<ds>`` (study_train.py): SeqNetQuake, and ``study.baselines``, trained
  directly on one dataset (train.py's direct training), with 07's tuned hyper-parameters
  (``study.hyperparameters: tuned_07``) or a search of their own on that dataset's training
  split (``tune_each``), into ``models/study/<ds>/<model>/``; prints where the time goes.
- ``study`` (:func:`run_report`): ``reports/study.json`` (DVC metrics: per dataset 01-11
  SeqNetQuake's ``mcc`` and ``f1_weighted`` with event-bootstrap ``_ci_low``/``_ci_high``, the
  paper's figure, the truth ceiling), ``reports/study.md`` (one table per experiment of the
  paper), the T and radius sweeps in ``reports/plots/study_T.png``/``study_radius.png``, and the
  alarm evaluation (alarms.py) of SeqNetQuake-TL and the best baseline on CSES, beside the
  relative-intensity forecast (geography alone); one MLflow run.

Dataset 07 is the pipeline's ``direct`` stage and 11 its ``train_base`` (the same training);
the truth ceilings come from ``reports/study_ceilings.json`` (``seqnetquake benchmark
ceilings``): this module never reads the injection truth.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqnetquake import alarms as al
from seqnetquake import tracking
from seqnetquake.config import Config
from seqnetquake.contracts import PREDICTIONS_FILE, STAGE_METRICS_FILE, TEST_WINDOWS_FILE
from seqnetquake.errors import InputError
from seqnetquake.fileio import atomic_path, write_json
from seqnetquake.metrics import event_bootstrap, format_ci, json_safe, without_nan
from seqnetquake.paper import PAPER_TABLE2
from seqnetquake.paths import LAYOUT
from seqnetquake.predictions import BASELINE_NAMES, Predictions
from seqnetquake.windowset import load_windows

SEQNETQUAKE = "seqnetquake"
T_SWEEP = ("01", "03", "04", "05", "06")
RADIUS_SWEEP = ("03", "07", "08", "09", "10")
ALL_DATASETS = tuple(f"{i:02d}" for i in range(1, 12))

# The paper's figures per dataset (PAPER_NOTES.md, Results section). 03: the upper ends of the
# T-sweep ranges, which the paper reaches at T = 20 (dataset 03).
PAPER = {
    "01": {"paper_f1": 0.6238, "paper_mcc": None},
    "02": {"paper_f1": 0.5963, "paper_mcc": None},
    "03": {"paper_f1": 0.6658, "paper_mcc": 0.3875},
    "07": {"paper_f1": 0.6792, "paper_mcc": 0.427},
    "11": {"paper_f1": 0.7002, "paper_mcc": 0.3763},
}
PAPER_TL = {"paper_f1": 0.7607, "paper_mcc": 0.5523}
PAPER_T_RANGE = {"f1": (0.5959, 0.6658), "mcc": (0.2629, 0.3875)}
PAPER_NOTES = {
    "day_night": "paper: weighted F1 0.6238 (night, 01) vs 0.5963 (day, 02); MCC +33 % at night",
    "T": "paper: F1 0.5959-0.6658, MCC 0.2629-0.3875 over T = 10..50, best at T = 20 (03); "
         "per-T values other than the best not published",
    "radius": "paper: best with the Dobrovolsky radius (07): F1 0.6792, MCC 0.427",
    "initial": "paper: DEMETER initial training (11, TR0 -> TS0): F1 0.7002, MCC 0.3763",
    "transfer": "paper: transfer learning TR0 -> TR1 -> TS1: F1 0.7607, MCC 0.5523 "
                "(+12 % F1, +29 % MCC over direct training)",
    "six": "paper: all six classifiers on TS1: F1 0.5757-0.7607, MCC 0.2365-0.552",
}


# --------------------------------------------------------------------------- collecting
def prediction_paths(cfg: Config, models_dir: Path) -> dict[str, dict[str, Path]]:
    """{dataset: {model: predictions.npz}} of every dataset the study covers."""
    paths: dict[str, dict[str, Path]] = {}
    for ds in cfg.study.datasets:
        paths[ds] = {m: models_dir / "study" / ds / m / PREDICTIONS_FILE
                     for m in cfg.study.models()}
    target, base = cfg.train.target_dataset, cfg.train.base_dataset
    paths.setdefault(target, {})[SEQNETQUAKE] = models_dir / "direct" / PREDICTIONS_FILE
    for m in cfg.train.baselines:
        paths[target][m] = models_dir / "baselines" / m / PREDICTIONS_FILE
    paths.setdefault(base, {})[SEQNETQUAKE] = models_dir / "base" / PREDICTIONS_FILE
    return paths


def _read_predictions(path: Path) -> Predictions:
    try:
        return Predictions.load(path)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(path, "file", f"no readable predictions: {exc}") from exc


def model_figures(pred: Predictions, cfg: Config) -> dict[str, float]:
    """Test mcc, f1_weighted, accuracy with event-bootstrap intervals."""
    hard = np.asarray(pred.proba).argmax(axis=1)
    return event_bootstrap(pred.y, hard, pred.event_id, n_samples=cfg.evaluate.bootstrap_samples,
                           seed=cfg.evaluate.bootstrap_seed)


def read_ceilings(path: Path | None) -> dict[str, Any]:
    """``reports/study_ceilings.json`` datasets (empty when there is none: real data)."""
    if path is None or not Path(path).exists():
        return {}
    try:
        return json.loads(Path(path).read_text()).get("datasets", {})
    except json.JSONDecodeError as exc:
        raise InputError(path, "file", f"not JSON: {exc}") from exc


def build_study(cfg: Config, figures: dict[str, dict[str, dict[str, float]]],
                ceilings: dict[str, Any], transfer: dict[str, float] | None) -> dict[str, Any]:
    """The study.json body: per dataset SeqNetQuake's figures, paper's figure and ceiling.

    ``figures``: {dataset: {model: event_bootstrap output}}; ``transfer``: SeqNetQuake-TL's.
    """
    keys = ("mcc", "mcc_ci_low", "mcc_ci_high", "f1_weighted", "f1_weighted_ci_low",
            "f1_weighted_ci_high", "accuracy")
    datasets: dict[str, Any] = {}
    for ds in ALL_DATASETS:
        own = figures.get(ds, {}).get(SEQNETQUAKE)
        entry: dict[str, Any] = {k: (own or {}).get(k) for k in keys}
        entry |= PAPER.get(ds, {"paper_f1": None, "paper_mcc": None})
        c = ceilings.get(ds, {})
        entry |= {"ceiling_mcc": c.get("ceiling_mcc"),
                  "ceiling_f1_weighted": c.get("ceiling_f1_weighted")}
        datasets[ds] = entry
    baselines = {ds: {m: {k: f.get(k) for k in keys} for m, f in by_model.items()
                      if m != SEQNETQUAKE}
                 for ds, by_model in figures.items()}
    out: dict[str, Any] = {"data_kind": cfg.data_kind, "hyperparameters":
                           cfg.study.hyperparameters, "datasets": datasets,
                           "baselines": {ds: b for ds, b in sorted(baselines.items()) if b}}
    if transfer is not None:
        out["transfer"] = {**{k: transfer.get(k) for k in keys}, **PAPER_TL}
    return json_safe(out, digits=6)


# --------------------------------------------------------------------------- tables
def _cell(d: dict[str, Any], key: str) -> str:
    v = d.get(key)
    if v is None:
        return "n/a"
    lo, hi = d.get(f"{key}_ci_low"), d.get(f"{key}_ci_high")
    return format_ci(v, lo, hi) if lo is not None and hi is not None else f"{v:.2f}"


def _num(v: Any, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _label(cfg: Config, ds: str) -> str:
    d = cfg.datasets.get(ds)
    if d is None:
        return ds
    r = d.radius if isinstance(d.radius, str) else f"{d.radius:g} deg"
    return f"{ds} ({d.satellite}, {d.half_orbit}, T={d.T}, {r})"


def table(rows: list[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> list[str]:
    """Markdown rows: label, model, our figures, paper/ceiling figures."""
    lines = ["| dataset | model | MCC [95 % CI] | F1 [95 % CI] | accuracy | truth ceiling MCC "
             "| paper F1 | paper MCC |", "|---|---|---|---|---|---|---|---|"]
    for label, model, ours, ref in rows:
        lines.append(f"| {label} | {model} | {_cell(ours, 'mcc')} | {_cell(ours, 'f1_weighted')} "
                     f"| {_num(ours.get('accuracy'))} | {_num(ref.get('ceiling_mcc'), 2)} | "
                     f"{_num(ref.get('paper_f1'))} | {_num(ref.get('paper_mcc'))} |")
    return lines


def _stamp(cfg: Config) -> str:
    if cfg.data_kind == "simulated":
        return ("data_kind=simulated: Ne/Te from the virtual satellite (docs/simulator.md); "
                "not a finding about the real ionosphere")
    return f"data_kind={cfg.data_kind}"


def write_markdown(cfg: Config, study: dict[str, Any], alarms: dict[str, Any] | None,
                   timing: dict[str, Any], path: Path) -> None:
    ds = study["datasets"]
    name = "SeqNetQuake (DT)"
    lines = ["# The study: every experiment of the paper", "", f"**{_stamp(cfg)}.**", "",
             f"SeqNetQuake trained directly on each dataset with hyper-parameters "
             f"`{cfg.study.hyperparameters}` (study.hyperparameters). Every interval is a 95 % "
             "event bootstrap (seqnetquake.metrics). Truth ceiling: the oracle that knows which "
             "windows hold injected samples (docs/benchmark.md), n/a on real data. `paper F1` "
             "is the F1 the paper prints (its code computes micro F1, which equals accuracy; "
             "its text calls the 01/02 figures weighted F1): read it against both our F1 and "
             "accuracy.", ""]
    sections = [
        ("Day vs night (01 night, 02 day; T = 10, 3 deg)", "day_night", ["01", "02"]),
        ("Window length T (01, 03-06; night, 3 deg)", "T", list(T_SWEEP)),
        ("Spatial window (03, 07-10; night, T = 20)", "radius", list(RADIUS_SWEEP)),
        ("Initial training (DEMETER 11, TR0 -> TS0)", "initial", ["11"]),
    ]
    for title, key, sets in sections:
        lines += [f"## {title}", ""]
        lines += table([(_label(cfg, d), name if d != "11" else "SeqNetQuake (IT)", ds[d], ds[d])
                        for d in sets])
        lines += ["", PAPER_NOTES[key] + ".", ""]
    target = cfg.train.target_dataset
    lines += [f"## Transfer learning (DEMETER 11 -> CSES {target})", ""]
    rows = [(_label(cfg, target), name, ds[target], ds[target])]
    if "transfer" in study:
        rows.append((_label(cfg, target), "SeqNetQuake-TL", study["transfer"],
                     {**ds[target], **PAPER_TL}))
    lines += table(rows) + ["", PAPER_NOTES["transfer"] + ".", ""]
    lines += [f"## Six classifiers on CSES {target} (TS1)", ""]
    rows = [(_label(cfg, target), "SeqNetQuake-TL", study.get("transfer", {}),
             {**ds[target], **PAPER_TL})]
    for m, f in study["baselines"].get(target, {}).items():
        paper = PAPER_TABLE2.get(m, {})
        rows.append((_label(cfg, target), BASELINE_NAMES.get(m, m), f,
                     {"ceiling_mcc": ds[target].get("ceiling_mcc"),
                      "paper_f1": paper.get("paper_f1"), "paper_mcc": paper.get("paper_mcc")}))
    lines += table(rows) + ["", PAPER_NOTES["six"] + " (CNN's figure derived from the "
                            "reported gains of SeqNetQuake-TL over it).", ""]
    others = {d: b for d, b in study["baselines"].items() if d != target}
    if others:
        lines += ["## Baselines on every dataset (study.baselines)", ""]
        lines += table([(_label(cfg, d), BASELINE_NAMES.get(m, m), f,
                         {"ceiling_mcc": ds[d].get("ceiling_mcc")})  # no paper figure per model
                        for d, b in others.items() for m, f in b.items()]) + [""]
    lines += ["Figures: plots/study_T.png, plots/study_radius.png (F1 and MCC with intervals, "
              "the paper's points and the ceiling).", ""]
    if alarms:
        lines += alarm_markdown(cfg, alarms)
    if timing:
        lines += ["Where the time goes: `reports/study_timing.md` (per run: git-ignored, not a "
                  "DVC output) and the study run's `timing.*` metrics in MLflow.", ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def timing_markdown(timing: dict[str, Any]) -> str:
    """The per-run table of study_train's seconds (changes every run: never committed)."""
    lines = ["# Where the time goes (study_train)", "",
             "| dataset | model | tune s | train s (with MLflow logging) | fit s |",
             "|---|---|---|---|---|"]
    total = 0.0
    for d, per_model in sorted(timing.items()):
        for m, s in per_model.items():
            total += s.get("tune_s", 0.0) + s.get("train_s", 0.0)
            lines.append(f"| {d} | {m} | {_num(s.get('tune_s'), 1)} | "
                         f"{_num(s.get('train_s'), 1)} | {_num(s.get('fit_s'), 1)} |")
    lines += ["", f"Total {total / 60:.1f} min of study_train (on the machine that ran it)."]
    return "\n".join(lines) + "\n"


def alarm_markdown(cfg: Config, alarms: dict[str, Any]) -> list[str]:
    a = cfg.study.alarms
    lines = ["## Alarms: Molchan diagram and area skill score (CSES test period)", "",
             f"Space-time cells of {a.cell_deg:g} x {a.cell_deg:g} degrees x 1 day over "
             f"|lat| <= {alarms['lat_max']:g}, {alarms['n_days']} days "
             f"({alarms['first_day']} .. {alarms['last_day']}); a pass alarms its cell for "
             f"{alarms['lead_days']:g} days when its window's P(seismic) is at or above the "
             f"threshold; targets: the {alarms['n_targets']} catalogue mainshocks "
             f"(M >= {alarms['min_magnitude']:g}) in the grid. ASS 0.5 = random; "
             f"the random interval is 0.5 +- z sqrt(1/12N) ({a.confidence:.0%}). "
             "Relative intensity = epicentre counts per cell before the test period "
             "(geography alone, no ionosphere). Window coverage = every test window scores "
             "the same: the windows stage cuts windows only around catalogue events (real "
             "and artificial), so where windows exist already points at epicentres; a model "
             "shows skill of its own only above this row.", "",
             "| forecast | ASS | random-guess interval | targets | reading |",
             "|---|---|---|---|---|"]
    for m in alarms["forecasts"].values():
        lo, hi = m["ass_random_low"], m["ass_random_high"]
        verdict = ("better than random" if m["ass"] > hi else
                   "worse than random" if m["ass"] < lo else "within chance")
        lines.append(f"| {m['name']} | {m['ass']:.3f} | [{lo:.3f}, {hi:.3f}] | "
                     f"{m['n_targets']} | {verdict} |")
    lines += ["", "Figure: plots/study_molchan.png. "
              + ("On the embedded default the Ne/Te are simulated but the targets are the real "
                 "catalogue's epicentres, so the relative-intensity row is what geography "
                 "alone achieves; a model's ASS above it would need the location-matched twin "
                 "(`make benchmark`) to be read as ionospheric skill."
                 if cfg.data_kind == "simulated" else ""), ""]
    return lines


# --------------------------------------------------------------------------- plots
def plot_sweeps(cfg: Config, study: dict[str, Any], plots_dir: Path) -> list[Path]:
    """study_T.png and study_radius.png: F1 and MCC with intervals, paper's points, ceiling."""
    from matplotlib.figure import Figure  # deferred: heavy

    ds = study["datasets"]
    out = []
    sweeps = (("study_T.png", T_SWEEP, "window length T (samples)",
               lambda d: float(cfg.datasets[d].T) if d in cfg.datasets else math.nan),
              ("study_radius.png", RADIUS_SWEEP, "spatial window", None))
    for fname, sets, xlabel, xof in sweeps:
        fig = Figure(figsize=(9, 4))
        axes = fig.subplots(1, 2)
        if xof is None:
            x = np.arange(len(sets), dtype=float)
            ticks = [(f"{cfg.datasets[d].radius:g} deg" if not isinstance(cfg.datasets[d].radius,
                      str) else "Dobrovolsky") + f"\n({d})" if d in cfg.datasets else d
                     for d in sets]
        else:
            x = np.array([xof(d) for d in sets])
            ticks = [f"{int(v) if v == v else '?'}\n({d})" for v, d in zip(x, sets, strict=True)]
        for ax, key, label in zip(axes, ("f1_weighted", "mcc"), ("weighted F1", "MCC"),
                                  strict=True):
            y = np.array([ds[d].get(key) if ds[d].get(key) is not None else np.nan for d in sets])
            lo = np.array([ds[d].get(f"{key}_ci_low") or np.nan for d in sets])
            hi = np.array([ds[d].get(f"{key}_ci_high") or np.nan for d in sets])
            err = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
            ax.errorbar(x, y, yerr=np.nan_to_num(err), marker="o", capsize=3,
                        label="SeqNetQuake (DT), 95 % event CI")
            ceil_key = "ceiling_mcc" if key == "mcc" else "ceiling_f1_weighted"
            c = np.array([ds[d].get(ceil_key) if ds[d].get(ceil_key) is not None else np.nan
                          for d in sets])
            if np.isfinite(c).any():
                ax.plot(x, c, ls="--", marker="_", color="0.4", label="truth ceiling")
            pkey = "paper_f1" if key == "f1_weighted" else "paper_mcc"
            p = np.array([ds[d].get(pkey) if ds[d].get(pkey) is not None else np.nan
                          for d in sets])
            ax.plot(x, p, ls="none", marker="*", ms=11, color="crimson", label="paper")
            if fname == "study_T.png":
                r = PAPER_T_RANGE["f1" if key == "f1_weighted" else "mcc"]
                ax.axhspan(*r, color="crimson", alpha=0.08, label="paper range over T")
            ax.set_xticks(x, ticks, fontsize=8)
            ax.set(xlabel=xlabel, ylabel=label)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{'T sweep' if xof else 'Radius sweep'} (data_kind={cfg.data_kind})")
        fig.text(0.01, 0.005, _stamp(cfg), fontsize=7, color="firebrick")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        plots_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(plots_dir / fname) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        out.append(plots_dir / fname)
    return out


# --------------------------------------------------------------------------- alarms
def best_baseline(cfg: Config, models_dir: Path) -> str | None:
    """The baseline with the highest validation MCC (never chosen on the test set)."""
    best, best_mcc = None, -math.inf
    for m in cfg.train.baselines:
        path = models_dir / "baselines" / m / STAGE_METRICS_FILE
        if not path.exists():
            continue
        v = json.loads(path.read_text()).get("val_mcc")
        if v is not None and v > best_mcc:
            best, best_mcc = m, v
    return best


def evaluate_alarms(cfg: Config, forecasts: dict[str, tuple[str, Predictions]],
                    test: Any, catalog: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Molchan curves and ASS of each model's test P(seismic) and of relative intensity.

    ``test``: the WindowSet the predictions are of (lat, lon, t0); ``catalog``: the
    satellite's catalogue (kind, time, latitude, longitude, magnitude).
    """
    a = cfg.study.alarms
    satellite = cfg.datasets[cfg.train.target_dataset].satellite
    lat_max = cfg.missions[satellite].lat_coverage_deg
    lead = a.lead_days if a.lead_days is not None else cfg.windows.lead_days
    min_mag = a.min_magnitude if a.min_magnitude is not None else cfg.catalog.min_magnitude
    grid = al.grid_for(test.t0, a.cell_deg, lat_max)
    main = catalog[(catalog["kind"] == "mainshock") & (catalog["magnitude"] >= min_mag)]
    times = main["time"].dt.tz_localize(None).to_numpy(dtype="datetime64[ns]") \
        if getattr(main["time"].dt, "tz", None) is not None \
        else main["time"].to_numpy(dtype="datetime64[ns]")
    lat, lon = main["latitude"].to_numpy(float), main["longitude"].to_numpy(float)
    target_idx = al.targets(grid, lat, lon, times)
    if not len(target_idx):
        raise ValueError("no mainshock of the catalogue falls in the test period's alarm grid")
    weights = grid.weights()
    values = {key: (name, al.alarm_function(grid, test.lat, test.lon, test.t0,
                                            pred.proba[:, 1], lead))
              for key, (name, pred) in forecasts.items()}
    # Windows are cut only around catalogue events (seismic and artificial), so where a window
    # exists at all says much; this control scores every window alike (sampling alone).
    values["window_coverage"] = ("Window coverage (every test window alike, no model)",
                                 al.alarm_function(grid, test.lat, test.lon, test.t0,
                                                   np.ones(len(test.t0)), lead))
    before = times < grid.day0.astype("datetime64[ns]")
    values["relative_intensity"] = ("Relative intensity (epicentres before the test period)",
                                    al.relative_intensity(grid, lat[before], lon[before]))
    curves = {key: al.molchan(v, weights, target_idx) for key, (_, v) in values.items()}
    lo, hi = al.ass_bounds(len(target_idx), a.confidence)
    summary = {
        "lat_max": lat_max, "lead_days": lead, "min_magnitude": min_mag,
        "n_days": grid.n_days, "first_day": str(grid.day0),
        "last_day": str(grid.day0 + np.timedelta64(grid.n_days - 1, "D")),
        "n_targets": int(len(target_idx)),
        "forecasts": {key: {"name": values[key][0], "ass": c.ass, "ass_random_low": lo,
                            "ass_random_high": hi, "n_targets": c.n_targets}
                      for key, c in curves.items()},
    }
    return summary, curves


# --------------------------------------------------------------------------- the stage
def collect_timing(models_dir: Path, datasets: list[str]) -> dict[str, Any]:
    timing = {}
    for ds in datasets:
        path = models_dir / "study" / ds / "timing.json"
        if path.exists():
            timing[ds] = json.loads(path.read_text())
    return timing


def run_report(cfg: Config, *, models_dir: str | Path = LAYOUT.models_dir,
               data_dir: str | Path = LAYOUT.processed_dir,
               reports_dir: str | Path = LAYOUT.reports_dir,
               ceilings: str | Path | None = LAYOUT.study_ceilings,
               catalog: str | Path | None = None) -> dict[str, Any]:
    """The ``study`` stage: study.json, study.md, the sweep and Molchan figures, one run."""
    import mlflow  # deferred: heavy

    models_dir, data_dir, reports_dir = Path(models_dir), Path(data_dir), Path(reports_dir)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for ds, by_model in prediction_paths(cfg, models_dir).items():
        for m, path in by_model.items():
            figures.setdefault(ds, {})[m] = model_figures(_read_predictions(path), cfg)
    transfer_path = models_dir / "transfer" / PREDICTIONS_FILE
    transfer = _read_predictions(transfer_path) if transfer_path.exists() else None
    study = build_study(cfg, figures, read_ceilings(Path(ceilings) if ceilings else None),
                        model_figures(transfer, cfg) if transfer is not None else None)

    alarms_summary, curves = None, {}
    target = cfg.train.target_dataset
    satellite = cfg.datasets[target].satellite
    catalog_path = Path(catalog) if catalog else LAYOUT.catalog(satellite)
    if transfer is not None:
        test = load_windows(data_dir / target / TEST_WINDOWS_FILE, channels=cfg.windows.features)
        if len(transfer.y) != len(test) or not np.array_equal(
                np.asarray(transfer.t0, dtype="datetime64[ns]"), test.t0):
            raise InputError(transfer_path, "t0", f"not the test windows of dataset {target}")
        forecasts = {"transfer": ("SeqNetQuake-TL", transfer)}
        best = best_baseline(cfg, models_dir)
        if best is not None:
            # one key whichever baseline it is: DVC metrics compare across runs by key
            name = f"{BASELINE_NAMES.get(best, best)} (best baseline by val MCC)"
            path = models_dir / "baselines" / best / PREDICTIONS_FILE
            forecasts["best_baseline"] = (name, _read_predictions(path))
        try:
            cat = pd.read_parquet(catalog_path)
        except (OSError, ValueError) as exc:
            raise InputError(catalog_path, "file", f"no readable catalogue: {exc}") from exc
        alarms_summary, curves = evaluate_alarms(cfg, forecasts, test, cat)
        study["alarms"] = json_safe({k: {kk: vv for kk, vv in v.items() if kk != "name"}
                                     for k, v in alarms_summary["forecasts"].items()}, digits=6)
        if best is not None:
            study["alarms"]["best_baseline"]["model"] = best

    timing = collect_timing(models_dir, cfg.study.datasets)
    plots_dir = reports_dir / "plots"
    plots = plot_sweeps(cfg, study, plots_dir)
    if curves:
        names = {k: v["name"] for k, v in alarms_summary["forecasts"].items()}
        with atomic_path(plots_dir / "study_molchan.png") as tmp:
            al.plot_molchan({names[k]: c for k, c in curves.items()}, tmp,
                            confidence=cfg.study.alarms.confidence, stamp=_stamp(cfg),
                            title=f"Molchan diagram, CSES {target} test period "
                                  f"(data_kind={cfg.data_kind})")
        plots.append(plots_dir / "study_molchan.png")
    write_markdown(cfg, study, alarms_summary, timing, reports_dir / "study.md")
    write_json(study, reports_dir / "study.json")
    write_json(json_safe({"alarms": alarms_summary, "curves": {k: c.to_dict()
                                                               for k, c in curves.items()}},
                         digits=6), reports_dir / "study_details.json")
    with atomic_path(reports_dir / "study_timing.md") as tmp:
        tmp.write_text(timing_markdown(timing))

    with tracking.stage_run(cfg, "study", params={
            "hyperparameters": cfg.study.hyperparameters, "datasets": cfg.study.datasets,
            "baselines": cfg.study.baselines, "alarms": cfg.study.alarms.model_dump(),
            "best_baseline": (study.get("alarms") or {}).get("best_baseline", {}).get("model")}):
        flat = {}
        for ds, entry in study["datasets"].items():
            for k in ("mcc", "mcc_ci_low", "mcc_ci_high", "f1_weighted", "f1_weighted_ci_low",
                      "f1_weighted_ci_high"):
                if entry.get(k) is not None:
                    flat[f"study.{ds}.{k}"] = entry[k]
        for key, m in (study.get("alarms") or {}).items():
            for k in ("ass", "ass_random_low", "ass_random_high", "n_targets"):
                if m.get(k) is not None:
                    flat[f"alarms.{key}.{k}"] = m[k]
        for ds, per_model in timing.items():
            for m, secs in per_model.items():
                flat |= without_nan({f"timing.{ds}.{m}.{k}": v for k, v in secs.items()})
        mlflow.log_metrics(flat)
        for path in [reports_dir / "study.md", reports_dir / "study.json",
                     reports_dir / "study_details.json", reports_dir / "study_timing.md",
                     *plots]:
            mlflow.log_artifact(str(path), artifact_path="study")
    return study
