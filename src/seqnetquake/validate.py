"""Great Expectations (GX Core 1.x) suites kept as reviewable JSON under ``expectations/``.

A suite file is GX's own serialisation (``{"name": ..., "expectations": [{"type": ...,
"kwargs": ...}]}``), so a reviewer reads exactly what runs. Validation happens in an ephemeral
context (no ``gx/`` folder to commit); HTML Data Docs are written to a folder the stage names.
The validate stage runs every table in one context, so its Data Docs site lists every
validation of the run (a fresh context per table would keep only the last one's pages).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from seqnetquake.errors import ValidationFailed


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
    import great_expectations as gx

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
    import great_expectations as gx
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


# --------------------------------------------------------------------------- the validate stage
# Derived columns let column-wise expectations check table-level rules (periods, cadence,
# thirds); parameters fill the suites' $PARAMETER thresholds from params.yaml.


def _catalog_table(df: pd.DataFrame, cfg, satellite: str) -> tuple[pd.DataFrame, dict]:
    from seqnetquake.catalog import _period_bounds

    start, end = _period_bounds(cfg.missions[satellite])
    out = df.copy()
    out["in_mission_period"] = (df["time"] >= start) & (df["time"] < end)
    return out, {"min_magnitude": cfg.catalog.min_magnitude}


def _kp_table(df: pd.DataFrame, cfg, _: str) -> tuple[pd.DataFrame, dict]:
    out = df.copy()
    out["hours"] = (df["end"] - df["start"]).dt.total_seconds() / 3600.0
    out["thirds_residual"] = (df["kp"] * 3 - (df["kp"] * 3).round()).abs()
    return out, {}


def _tracks_table(df: pd.DataFrame, cfg, _: str) -> tuple[pd.DataFrame, dict]:
    from seqnetquake import tracks

    return tracks.validation_frame(df), tracks.suite_parameters(cfg)


def suite_for(path: Path) -> tuple[str, str]:
    """(suite name, satellite or '') from a table's file name."""
    stem = path.stem
    for suite in ("catalog", "tracks"):
        if stem.startswith(f"{suite}_"):
            return suite, stem.removeprefix(f"{suite}_")
    if stem == "kp":
        return "kp", ""
    raise ValidationFailed(f"{path}: no suite for this table (expected catalog_*, kp, tracks_*)")


PREPARERS = {"catalog": _catalog_table, "kp": _kp_table, "tracks": _tracks_table}


def run_stage(cfg, inputs: list[Path], out_path: Path, docs_dir: Path) -> None:
    """Validate every table, write the summary and Data Docs, then fail if anything failed."""
    from seqnetquake import tracking
    from seqnetquake.fileio import write_json

    reports: list[Report] = []
    expectations_dir = tracking.repo_root() / cfg.validation.expectations_dir
    if not expectations_dir.is_dir():
        expectations_dir = Path(cfg.validation.expectations_dir)
    docs_dir = Path(docs_dir)
    import shutil

    shutil.rmtree(docs_dir, ignore_errors=True)  # stale pages from an earlier run would mislead
    context = new_context(docs_dir)  # one site for every table of this run
    for path in inputs:
        path = Path(path)
        suite, satellite = suite_for(path)
        table, parameters = PREPARERS[suite](pd.read_parquet(path), cfg, satellite)
        spec = load_suite_json(expectations_dir, suite)
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
            import mlflow

            mlflow.log_artifacts(str(docs_dir), artifact_path="data_docs")
    print(f"data docs: {docs_dir / 'index.html'} ({len(reports)} validations)")
    require(reports)
