"""``tuning.search``: a TPE search whose trials run one after another in this process
(``tuning.backend: local``) or as Spark tasks (``spark``, tuning/backends.py).

Resumability (local backend): the search runs one evaluation per ``fmin`` call, with the TPE
random state seeded from ``(seed, trial number)``, and hands the trials to ``on_trial`` after
every trial (the stage writes them to trials.json, tuning/resume.py); a resumed search rebuilds
its ``hyperopt.Trials`` from them. So a search that is killed and run again continues where it
stopped and proposes exactly the trials an uninterrupted search would have; finished trials are
not recomputed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, tpe

from seqnetquake.config import SparkConfig
from seqnetquake.metrics import json_safe
from seqnetquake.tuning.backends import spark_search
from seqnetquake.tuning.trial import (
    Search,
    SearchResult,
    evaluate_params,
    log_trial,
    to_stderr,
)
from seqnetquake.windowset import WindowSet


def search(
    spec: Any,
    train: WindowSet,
    val: WindowSet,
    *,
    max_evals: int,
    seed: int,
    max_epochs: int,
    patience: int,
    space: dict[str, Any] | None = None,
    trials: Any = None,
    nested_runs: bool = False,
    no_progress_evals: int | None = None,
    on_trial: Callable[[Any], None] | None = None,
    log: Callable[[str], None] | None = None,
    backend: str = "local",
    spark: Any = None,
    trial_tags: dict[str, str] | None = None,
) -> SearchResult:
    """TPE search over ``space`` (default ``spec.space``) up to ``max_evals`` trials in total.

    ``trials`` (a ``hyperopt.Trials``) carries earlier trials to resume from; ``on_trial`` is
    called with it after each trial (to persist it); with ``nested_runs`` each trial is a
    nested MLflow run under the active run. ``no_progress_evals`` stops the search once that
    many trials in a row have not improved the best loss. ``trial_tags`` go on every
    nested trial run (the stage's lineage tags: git commit, data kind, stage).
    """
    plan = Search(
        spec, train, val, max_evals=max_evals, seed=seed, max_epochs=max_epochs,
        patience=patience, space=spec.space if space is None else space,
        trials=Trials() if trials is None else trials, nested_runs=nested_runs,
        no_progress_evals=no_progress_evals, on_trial=on_trial, log=log or to_stderr,
        trial_tags=trial_tags,
    )
    if backend == "spark":  # trials as Spark tasks
        return spark_search(plan, spark or SparkConfig())
    return local_search(plan)


def local_search(plan: Search) -> SearchResult:
    """The trials one after another in this process, one ``fmin`` call each."""
    trials = plan.trials
    n_start = len(trials.trials)

    def objective(params: dict[str, Any]) -> dict[str, Any]:
        params = json_safe(params)
        index = len(trials.trials) - 1  # the trial hyperopt has just inserted

        def run() -> dict[str, Any]:
            return evaluate_params(plan.spec, params, plan.train, plan.val, **plan.fit)

        if plan.nested_runs:
            import mlflow  # deferred: heavy

            with mlflow.start_run(run_name=f"trial-{index:03d}", nested=True,
                                  tags=plan.trial_tags) as child:
                result = run()
                log_trial(index, params, result, plan.spec.name)
                result["run_id"] = child.info.run_id
        else:
            result = run()
        del result["history"]  # in MLflow; keeps trials.json small
        return {**result, "status": STATUS_OK, "params": params}

    while len(trials.trials) < plan.max_evals and not plan.stopped(trials):
        n_done = len(trials.trials)
        fmin(
            objective,
            plan.space,
            algo=tpe.suggest,
            max_evals=n_done + 1,
            trials=trials,
            # One stream per trial number: resuming replays exactly the uninterrupted search.
            rstate=np.random.default_rng([plan.seed, n_done]),
            show_progressbar=False,
        )
        if plan.on_trial is not None:
            plan.on_trial(trials)
        last, best = trials.trials[-1]["result"], trials.best_trial["result"]
        plan.log(
            f"tune {plan.spec.name}: trial {n_done + 1}/{plan.max_evals} loss {last['loss']:.4f} "
            f"(F1 {last['f1_weighted']:.4f}, MCC {last['mcc']:.4f}, {last['epochs']} epochs, "
            f"{last['seconds']:.1f} s); best {best['loss']:.4f}"
        )
    return plan.result(trials, n_start)
