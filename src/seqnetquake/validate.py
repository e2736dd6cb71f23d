"""Great Expectations (GX Core 1.x) suites kept as reviewable JSON under ``expectations/``.

A suite file is GX's own serialisation (``{"name": ..., "expectations": [{"type": ...,
"kwargs": ...}]}``), so a reviewer reads exactly what runs. Validation happens in an ephemeral
context (no ``gx/`` folder to commit); HTML Data Docs are written to a folder the stage names.
The validate stage runs every table in one context, so its Data Docs site lists every
validation of the run (a fresh context per table would keep only the last one's pages).

This module is validation as one capability: it runs suites, finds the suites folder
(:func:`expectations_dir`), and builds every suite's table (the checked table plus derived
columns, and the suite's ``$PARAMETER`` values): ``catalog``, ``kp`` and ``tracks`` for the
validate stage, ``background`` and ``windows`` for the stages that check their own output
before writing it (:func:`validate_background`, :func:`validate_windows`). It imports no stage
module: stages call it.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from seqnetquake import tracking
from seqnetquake.config import BackgroundConfig, Config
from seqnetquake.contracts import NS_PER_DAY, NS_PER_S
from seqnetquake.errors import InputError, ValidationFailed
from seqnetquake.fileio import write_json
from seqnetquake.geo import mission_bounds
from seqnetquake.paths import repo_root
from seqnetquake.windowset import WindowSet


def require_columns(path: Path, columns: tuple[str, ...], kind: str = "parquet",
                    note: str = "") -> None:
    """An InputError naming the file when it is not a readable parquet or lacks ``columns``."""
    try:
        names = set(pq.read_schema(path).names)
    except (OSError, ValueError) as exc:
        raise InputError(path, "file", f"not a readable {kind}: {exc}") from exc
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(path, ",".join(missing), f"missing column{note}")


@dataclass
class Failure:
    suite: str
    column: str
    expectation: str
    unexpected_count: int | None
    detail: str = ""

    def line(self) -> str:
        rows = "?" if self.unexpected_count is None else str(self.unexpected_count)
        detail = f"; {self.detail}" if self.detail else ""
        return f"{self.suite}: {self.column}: {self.expectation}: {rows} rows{detail}"


@dataclass
class Report:
    """The outcome of one suite on one table."""

    suite: str
    table: str
    rows: int
    evaluated: int
    failures: list[Failure] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        head = (
            f"{self.table}: suite {self.suite}: {self.evaluated - len(self.failures)}/"
            f"{self.evaluated} expectations passed on {self.rows} rows"
        )
        return "\n".join([head, *("  FAIL " + f.line() for f in self.failures)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "table": self.table,
            "rows": self.rows,
            "evaluated": self.evaluated,
            "success": self.success,
            "failures": [f.__dict__ for f in self.failures],
        }


def load_suite_json(expectations_dir: str | Path, name: str) -> dict[str, Any]:
    path = Path(expectations_dir) / f"{name}.json"
    try:
        spec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationFailed(f"{path}: cannot read suite: {exc}") from exc
    if spec.get("name") != name or not isinstance(spec.get("expectations"), list):
        raise ValidationFailed(f"{path}: suite must have name '{name}' and a list of expectations")
    return spec


def new_context(data_docs_dir: str | Path | None = None):
    """An ephemeral GX context, with a Data Docs site in ``data_docs_dir`` if given; pass it
    to several :func:`validate_frame` calls to get one site holding all their validations."""
    return _context(Path(data_docs_dir) if data_docs_dir is not None else None)


def _context(data_docs_dir: Path | None):
    import great_expectations as gx  # deferred: heavy

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except (ImportError, AttributeError):  # pragma: no cover - cosmetic only
        pass
    if data_docs_dir is not None:
        context.add_data_docs_site(
            site_name="local",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(Path(data_docs_dir).resolve()),
                },
            },
        )
    return context


def validate_frame(
    df: pd.DataFrame,
    suite_spec: dict[str, Any],
    table: str,
    data_docs_dir: str | Path | None = None,
    parameters: dict[str, Any] | None = None,
    context: Any = None,
) -> Report:
    """Run one suite on one DataFrame; return a :class:`Report` (never raises on failures).

    ``parameters`` fill the suite's ``{"$PARAMETER": name}`` placeholders (thresholds that
    live in params.yaml, such as the allowed share of gaps). ``context`` (:func:`new_context`)
    is shared between calls; without it each call gets its own, with ``data_docs_dir``'s site.
    """
    import great_expectations as gx  # deferred: heavy
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    docs = Path(data_docs_dir) if data_docs_dir is not None else None
    if context is None:
        context = _context(docs)
    build_docs = bool(context.get_site_names())
    name = suite_spec["name"]
    suite = gx.ExpectationSuite(name=name)
    for spec in suite_spec["expectations"]:
        suite.add_expectation_configuration(
            ExpectationConfiguration(type=spec["type"], kwargs=spec["kwargs"],
                                     meta=spec.get("meta", {}))
        )
    if any(s.name == name for s in context.suites.all()):  # a second table of one suite
        context.suites.delete(name)
    suite = context.suites.add(suite)
    asset = context.data_sources.add_pandas(f"pandas-{table}").add_dataframe_asset(table)
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{table}-{name}", data=batch_definition, suite=suite)
    )
    actions = [gx.checkpoint.UpdateDataDocsAction(name="docs")] if build_docs else []
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{table}-{name}",
            validation_definitions=[definition],
            actions=actions,
            result_format={"result_format": "SUMMARY"},
        )
    )
    outcome = checkpoint.run(
        batch_parameters={"dataframe": df}, expectation_parameters=parameters or {}
    )
    report = Report(suite=name, table=table, rows=len(df), evaluated=0)
    for run_result in outcome.run_results.values():
        for result in run_result.results:
            report.evaluated += 1
            if result.success:
                continue
            cfg = result.expectation_config
            kwargs = cfg.kwargs
            column = kwargs.get("column") or ",".join(kwargs.get("column_list", [])) or "-"
            info = result.exception_info or {}
            raised = info.get("raised_exception") if isinstance(info, dict) else False
            detail = ""
            if raised:
                detail = f"error: {str(info.get('exception_message', ''))[:200]}"
            else:
                sample = (result.result or {}).get("partial_unexpected_list") or []
                if sample:
                    detail = "e.g. " + ", ".join(str(v) for v in sample[:3])
                elif "observed_value" in (result.result or {}):
                    detail = f"observed {result.result['observed_value']}"
            report.failures.append(
                Failure(
                    suite=name,
                    column=column,
                    expectation=cfg.type,
                    unexpected_count=(result.result or {}).get("unexpected_count"),
                    detail=detail,
                )
            )
    return report


def require(reports: list[Report]) -> None:
    """Raise :class:`ValidationFailed` with every failing suite's summary."""
    bad = [r for r in reports if not r.success]
    if bad:
        raise ValidationFailed("\n".join(r.summary() for r in bad))


def expectations_dir(cfg: Config) -> Path:
    """The suites folder (``validation.expectations_dir``): relative to the repository root,
    else to the current directory."""
    under_root = repo_root() / cfg.validation.expectations_dir
    return under_root if under_root.is_dir() else Path(cfg.validation.expectations_dir)


# --------------------------------------------------------------------------- suite tables
# Derived columns let column-wise expectations check table-level rules (periods, cadence,
# thirds, the split); parameters fill the suites' $PARAMETER thresholds from params.yaml.
TRACKS_GAP_TOLERANCE_S = 1e-3  # track time stamps are kept to the millisecond
WINDOW_SPLITS = ("train", "test")  # split_code 0, 1


def catalog_table(df: pd.DataFrame, cfg: Config, satellite: str) -> tuple[pd.DataFrame, dict]:
    """``catalog`` suite: ``in_mission_period``; the magnitude threshold."""
    start, end = mission_bounds(cfg.missions[satellite])
    out = df.copy()
    out["in_mission_period"] = (df["time"] >= start) & (df["time"] < end)
    return out, {"min_magnitude": cfg.catalog.min_magnitude}


def kp_table(df: pd.DataFrame, cfg: Config, _: str) -> tuple[pd.DataFrame, dict]:
    """``kp`` suite: interval length in ``hours`` and the distance from exact thirds."""
    out = df.copy()
    out["hours"] = (df["end"] - df["start"]).dt.total_seconds() / 3600.0
    out["thirds_residual"] = (df["kp"] * 3 - (df["kp"] * 3).round()).abs()
    return out, {}


def tracks_frame(df: pd.DataFrame, cadence_s: float | None = None) -> pd.DataFrame:
    """The track table plus the derived columns expectations/tracks.json checks.

    ``dt_s``: time step from the previous row of the same half-orbit (NaN on its first row);
    ``gap_step``: 1.0 where that step exceeds the cadence (inferred as the median step unless
    given), 0.0 otherwise, NaN where there is no step. Its mean is the share of gaps.
    """
    t = df["time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    hid = df["half_orbit_id"].to_numpy()
    dt_s = np.full(len(df), np.nan)
    if len(df) > 1:
        same = hid[1:] == hid[:-1]
        dt_s[1:] = np.where(same, np.diff(t) / NS_PER_S, np.nan)
    if cadence_s is None:
        cadence_s = float(np.nanmedian(dt_s)) if np.isfinite(dt_s).any() else 0.0
    with np.errstate(invalid="ignore"):
        gap = np.where(np.isnan(dt_s), np.nan,
                       (dt_s > cadence_s + TRACKS_GAP_TOLERANCE_S) * 1.0)
    return df.assign(dt_s=dt_s, gap_step=gap)


def tracks_parameters(cfg: Config) -> dict[str, Any]:
    """Values for the ``$PARAMETER`` placeholders of expectations/tracks.json."""
    return {"max_gap_share": cfg.tracks.max_gap_share}


def tracks_table(df: pd.DataFrame, cfg: Config, _: str) -> tuple[pd.DataFrame, dict]:
    """``tracks`` suite: :func:`tracks_frame` and :func:`tracks_parameters`."""
    return tracks_frame(df), tracks_parameters(cfg)


def background_frame(frame: pd.DataFrame, cfg: BackgroundConfig) -> pd.DataFrame:
    """The table with derived columns for the ``background`` suite: ``covered`` (1 where the
    count is sufficient) and ``nan_where_covered`` (1 where a covered row has a NaN)."""
    covered = frame["ref_count"].to_numpy() >= cfg.min_count
    values = frame[["ne_ref", "ne_mad", "te_ref", "te_mad"]].to_numpy()
    nan_covered = covered & np.isnan(values).any(axis=1)
    return frame.assign(covered=covered.astype(np.float64),
                        nan_where_covered=nan_covered.astype(np.int64))


def background_parameters(cfg: BackgroundConfig) -> dict[str, Any]:
    """Values for the ``$PARAMETER`` placeholders of expectations/background.json."""
    return {"min_coverage": cfg.min_coverage, "max_level": len(cfg.fallback)}


def windows_frame(train: WindowSet, test: WindowSet, window_s: float = 0.0) -> pd.DataFrame:
    """One row per window with derived columns, for the ``windows`` GX suite.

    Rows are ordered by start time, test before train at equal times, so the suite's
    "split_code increasing" expectation holds exactly when every training window starts
    before every test window. ``event_splits`` is the number of splits the window's event has
    windows in (1 unless an event straddles the cut); ``gap_days`` is the time from the end of
    the last training window (``t0 + window_s``) to the first test window, seen from the
    window's side: a train row's own end to the first test start, a test row's own start after
    the last training end (0 when the other side is empty).
    """
    sets = {"train": train, "test": test}
    ends = {split: sets[split].t0.astype("datetime64[ns]").astype(np.int64)
            for split in WINDOW_SPLITS}
    ends["train"] = ends["train"] + int(round(window_s * NS_PER_S))
    sides: dict[str, set[str]] = {}
    for split in WINDOW_SPLITS:
        for event in np.unique(sets[split].event_id.astype(str)):
            sides.setdefault(event, set()).add(split)
    sides.pop("", None)
    day = float(NS_PER_DAY)
    parts = []
    for code, split in enumerate(WINDOW_SPLITS):
        ws = sets[split]
        parts.append(pd.DataFrame({
            "split_code": np.full(len(ws), code, dtype=np.int64),
            "y": ws.y,
            "n_steps": np.full(len(ws), ws.T, dtype=np.int64),
            "n_features": np.full(len(ws), ws.F, dtype=np.int64),
            "n_nan": np.isnan(ws.X).sum(axis=(1, 2)).astype(np.int64),
            "t0": ws.t0,
            "lat": ws.lat,
            "lon": ws.lon,
            "half_orbit_id": ws.half_orbit_id,
            "has_event": (ws.event_id != "") | (ws.y == 2),
            "event_splits": np.array([len(sides[e]) if e else 1 for e in ws.event_id.astype(str)],
                                     dtype=np.int64),
            "gap_days": _gap_days(ends, split, day),
        }))
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["t0", "split_code"], ascending=[True, False], kind="stable",
                             ignore_index=True)


def _gap_days(ends: dict[str, np.ndarray], split: str, day: float) -> np.ndarray:
    train_end, test_start = ends["train"], ends["test"]
    if not len(train_end) or not len(test_start):
        return np.zeros(len(ends[split]))
    if split == "train":
        return (test_start.min() - train_end) / day
    return (test_start - train_end.max()) / day


def windows_parameters(cfg: Config, dataset: str) -> dict[str, Any]:
    """Values for the ``$PARAMETER`` placeholders of expectations/windows.json."""
    return {"T": cfg.datasets[dataset].T, "F": len(cfg.windows.features),
            "gap_days": cfg.windows.split_gap_days}


# --------------------------------------------------------------------------- stages' own checks
def validate_background(frame: pd.DataFrame, cfg: Config, satellite: str) -> None:
    """Run the ``background`` suite on one background table; raise ValidationFailed with a
    summary on any violation (the background stage, before it writes)."""
    spec = load_suite_json(expectations_dir(cfg), "background")
    report = validate_frame(
        background_frame(frame, cfg.background), spec, f"background_{satellite}",
        parameters=background_parameters(cfg.background),
    )
    print(report.summary())
    require([report])


def validate_windows(train: WindowSet, test: WindowSet, cfg: Config, dataset: str) -> None:
    """Run the ``windows`` suite on one dataset's split; raise ValidationFailed with a summary
    on any violation (the windows stage, before it writes)."""
    spec = load_suite_json(expectations_dir(cfg), "windows")
    report = validate_frame(
        windows_frame(train, test, (cfg.datasets[dataset].T - 1) * cfg.tracks.cadence_s), spec,
        f"windows_{dataset}",
        parameters=windows_parameters(cfg, dataset),
    )
    print(report.summary())
    require([report])


# --------------------------------------------------------------------------- the validate stage
def suite_for(path: Path) -> tuple[str, str]:
    """(suite name, satellite or '') from a table's file name."""
    stem = path.stem
    for suite in ("catalog", "tracks"):
        if stem.startswith(f"{suite}_"):
            return suite, stem.removeprefix(f"{suite}_")
    if stem == "kp":
        return "kp", ""
    raise ValidationFailed(f"{path}: no suite for this table (expected catalog_*, kp, tracks_*)")


PREPARERS = {"catalog": catalog_table, "kp": kp_table, "tracks": tracks_table}


def run_stage(cfg: Config, inputs: list[Path], out_path: Path, docs_dir: Path) -> None:
    """Validate every table, write the summary and Data Docs, then fail if anything failed."""
    reports: list[Report] = []
    suites_dir = expectations_dir(cfg)
    docs_dir = Path(docs_dir)
    shutil.rmtree(docs_dir, ignore_errors=True)  # stale pages from an earlier run would mislead
    context = new_context(docs_dir)  # one site for every table of this run
    for path in inputs:
        path = Path(path)
        suite, satellite = suite_for(path)
        table, parameters = PREPARERS[suite](pd.read_parquet(path), cfg, satellite)
        spec = load_suite_json(suites_dir, suite)
        report = validate_frame(table, spec, path.stem, docs_dir, parameters, context=context)
        print(report.summary())
        reports.append(report)
    summary = {
        "success": all(r.success for r in reports),
        "tables": {r.table: r.as_dict() for r in reports},
        "failed_expectations": sum(len(r.failures) for r in reports),
    }
    with tracking.stage_run(cfg, "validate", tags={"validation_success": str(summary["success"])}):
        tracking.log_counts(
            {r.table: {"rows": r.rows, "failures": len(r.failures)} for r in reports}
        )
        write_json(summary, out_path)
        if (docs_dir / "index.html").is_file():
            import mlflow  # deferred: heavy

            mlflow.log_artifacts(str(docs_dir), artifact_path="data_docs")
    print(f"data docs: {docs_dir / 'index.html'} ({len(reports)} validations)")
    require(reports)
