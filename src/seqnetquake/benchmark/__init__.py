"""Injection-recovery benchmark: what the models find of the signal the simulator injected.

The ONLY code that reads the injection truth (``truth.parquet``, ``truth_events.parquet``,
written by ``simulate/``). Nothing that builds windows, trains, tunes, evaluates or registers
imports this package (tests/benchmark/test_benchmark.py enforces it over the source tree), so
the truth can never leak into a model. Modules: ``truth`` (read the truth, join it to windows),
``efficiency`` (oracle ceiling, detection efficiency, A50: pure functions), ``stage`` (the
``benchmark`` DVC stage and its report), ``sweep`` (amplitude sweep and control twins through
``dvc exp``, collected into one report; MLflow parent run). docs/benchmark.md.
"""

from __future__ import annotations

from seqnetquake.contracts import TRUTH_EVENTS_FILE, TRUTH_FILE

TRUTH_FILES = (TRUTH_FILE, TRUTH_EVENTS_FILE)  # the files the firewall keeps out of the stages

__all__ = ["TRUTH_FILES"]
