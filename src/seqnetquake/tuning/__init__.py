"""Hyperopt searches (TPE) with one nested MLflow run per trial, resumable after a kill.

Xiong et al. 2021 tuned every model with 100 TPE evaluations (``tuning.max_evals``). Here the
loss is minus the weighted F1 on a validation split cut chronologically from the *end of the
training set* (``windowset.fit_validation_split``: whole events, a gap of days); the test
set is never read (only ``train.npz`` is opened). Keras models stop early on the validation
loss instead of searching the epoch count (the authors searched 10/50/100 epochs;
see benchmarks/bench_tuning.py).

Modules: ``trial`` (one trial: build, fit, score; what a search is), ``tpe`` (``search``: the
TPE search, its trials one after another in this process), ``backends`` (the trials as Spark
tasks), ``resume`` (the search folder's state: trials.json, resume.json, and what a re-run
continues), ``stage`` (the tune stage: the search under one parent MLflow run, the outputs).
"""

from __future__ import annotations

from seqnetquake.tuning.resume import (
    SearchState,
    close_orphans,
    file_sha256,
    fingerprint,
    save_trials,
    trials_from_json,
    trials_to_json,
)
from seqnetquake.tuning.stage import run_stage
from seqnetquake.tuning.tpe import search
from seqnetquake.tuning.trial import (
    Search,
    SearchResult,
    evaluate_params,
    log_trial,
    no_progress,
    score,
)

__all__ = [
    "Search", "SearchResult", "SearchState", "close_orphans", "evaluate_params", "file_sha256",
    "fingerprint", "log_trial", "no_progress", "run_stage", "save_trials", "score", "search",
    "trials_from_json", "trials_to_json",
]
