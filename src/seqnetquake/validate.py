"""Great Expectations (GX Core 1.x) suites kept as reviewable JSON under ``expectations/``.

A suite file is GX's own serialisation (``{"name": ..., "expectations": [{"type": ...,
"kwargs": ...}]}``), so a reviewer reads exactly what runs. Validation happens in an ephemeral
context (no ``gx/`` folder to commit); HTML Data Docs are written to a folder the stage names.
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
) -> Report:
    """Run one suite on one DataFrame; return a :class:`Report` (never raises on failures).

    ``parameters`` fill the suite's ``{"$PARAMETER": name}`` placeholders (thresholds that
    live in params.yaml, such as the allowed share of gaps).
    """
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    docs = Path(data_docs_dir) if data_docs_dir is not None else None
    context = _context(docs)
    name = suite_spec["name"]
    suite = gx.ExpectationSuite(name=name)
    for spec in suite_spec["expectations"]:
        suite.add_expectation_configuration(
            ExpectationConfiguration(type=spec["type"], kwargs=spec["kwargs"],
                                     meta=spec.get("meta", {}))
        )
    suite = context.suites.add(suite)
    asset = context.data_sources.add_pandas("pandas").add_dataframe_asset(table)
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{table}-{name}", data=batch_definition, suite=suite)
    )
    actions = [gx.checkpoint.UpdateDataDocsAction(name="docs")] if docs is not None else []
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
