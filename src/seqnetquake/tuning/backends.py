"""The Spark backend of a search (``tuning.backend: spark``: Hyperopt's ``SparkTrials``); the
local one, trials one after another in this process, is tuning/tpe.py.

Spark backend. The driver (this process) runs TPE; each trial is one Spark task on a worker,
which trains the model and logs its nested MLflow run itself, to the same parent run (SparkTrials
has no MLflow code of its own: the tracking URI, experiment and parent run id travel with the
task). The windows travel once per worker as a broadcast variable. ``tuning.spark.master`` is
any Spark master URL (default ``local[*]``); ``tuning.spark.parallelism`` is the number of
trials at a time (default: Spark's default parallelism, the cores of ``local[*]``). Beyond
``local[...]`` the workers need the project installed and a tracking server they can reach
(``seqnetquake server``), not a sqlite file.

A trial's run is named ``trial-NNN`` and tagged ``trial`` by the driver when its result comes
back (the worker cannot know hyperopt's trial number). Persistence and resuming follow the
local backend where they can:

* after each finished trial the driver hands ``on_trial`` the longest run of finished trials
  numbered 0, 1, 2, ... (trials finish out of order; a later one waits for its predecessors);
* a re-run after a kill keeps those trials and continues under the same parent; every other
  child run (still RUNNING, finished beyond the saved ones, or finished but never named) is
  marked KILLED by ``tuning.resume.close_orphans`` and its trial computed anew. At most
  ``parallelism - 1`` finished trials are redone;
* unlike the local backend, the trials proposed are *not* those of an uninterrupted search:
  with several trials in flight TPE proposes from whatever results are back at that moment, so
  a Spark search (resumed or not) depends on timing. Each trial's training is seeded, so the
  same hyper-parameters give the same scores.
"""

from __future__ import annotations

import atexit
import copy
import os
import sys
import threading
import warnings
from typing import Any

import numpy as np
from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR, STATUS_OK, Trials, fmin, tpe

from seqnetquake.config import SparkConfig
from seqnetquake.metrics import json_safe
from seqnetquake.tuning.resume import close_orphans
from seqnetquake.tuning.trial import Search, SearchResult, evaluate_params, log_trial

_SESSION: dict[str, Any] = {}  # one Spark session per process, reused by later searches


def spark_session(settings: SparkConfig, parallelism: int | None) -> Any:
    """A SparkSession on ``settings.master``; workers run this interpreter (the venv).

    Starting Spark costs 10-20 s here, so the session is kept for later searches of the same
    process with the same settings (and stopped at exit); other settings get a new one.
    """
    key = f"{settings.master}|{parallelism}"
    if _SESSION.get("key") == key:
        return _SESSION["session"]
    if _SESSION:
        _SESSION.pop("session").stop()
        _SESSION.clear()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        from pyspark.sql import SparkSession  # deferred: heavy

    builder = (
        SparkSession.builder.master(settings.master)
        .appName("seqnetquake-tune")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "true")  # TensorFlow imported once per worker
        .config("spark.executorEnv.TF_CPP_MIN_LOG_LEVEL", "2")
    )
    if settings.master.startswith("local"):
        # Trials share this machine's cores: one share of the threads each, not all of them.
        threads = max(1, (os.cpu_count() or 1) // max(1, parallelism or os.cpu_count() or 1))
        for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
            builder = builder.config(f"spark.executorEnv.{var}", str(threads))
        builder = builder.config("spark.executorEnv.TF_NUM_INTEROP_THREADS", "1")
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    _SESSION.update(key=key, session=session)
    atexit.register(_stop_session)
    return session


def _stop_session() -> None:
    if _SESSION:
        _SESSION.pop("session").stop()
        _SESSION.clear()


def _run_trial_on_worker(
    params: dict[str, Any],
    *,
    model: str,
    data: Any,  # Broadcast of (train, val)
    fit: dict[str, int],
    tracking: dict[str, str] | None,
) -> dict[str, Any]:
    """One trial, on a Spark worker: fit, score, log the nested run under the parent."""
    from seqnetquake.models import get_model  # deferred: heavy (TensorFlow)

    params = json_safe(params)
    spec = get_model(model)
    train, val = data.value
    if tracking is None:
        result = evaluate_params(spec, params, train, val, **fit)
    else:
        import mlflow  # deferred: heavy

        mlflow.set_tracking_uri(tracking["uri"])
        with mlflow.start_run(experiment_id=tracking["experiment_id"], run_name="trial-pending",
                              tags={"mlflow.parentRunId": tracking["parent_run_id"]}) as child:
            result = evaluate_params(spec, params, train, val, **fit)
            log_trial(None, params, result, spec.name)  # the driver adds the trial number
            result["run_id"] = child.info.run_id
    del result["history"]
    return {**result, "status": STATUS_OK, "params": params}


def _plain(docs: list[dict[str, Any]]) -> Any:
    """A plain ``hyperopt.Trials`` holding copies of ``docs`` (what the state file stores)."""
    trials = Trials()
    trials._insert_trial_docs(copy.deepcopy(docs))
    trials.refresh()
    return trials


def contiguous_done(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The finished trials numbered 0, 1, 2, ... up to the first one not finished."""
    by_tid = {d["tid"]: d for d in docs}
    out = []
    while len(out) in by_tid and by_tid[len(out)]["state"] == JOB_STATE_DONE:
        out.append(by_tid[len(out)])
    return out


def spark_search(plan: Search, settings: SparkConfig) -> SearchResult:
    """``tuning.search`` with the trials as Spark tasks (``plan.trial_tags`` are not sent: a
    worker's run is named and tagged by the driver)."""
    from hyperopt.spark import SparkTrials  # deferred: heavy (pyspark)

    spec, trials, max_evals, log = plan.spec, plan.trials, plan.max_evals, plan.log
    on_trial = plan.on_trial
    done_before = contiguous_done(trials.trials) if trials is not None else []
    n_start = len(done_before)
    tracking, client = None, None
    if plan.nested_runs:
        import mlflow  # deferred: heavy

        parent = mlflow.active_run()
        uri = mlflow.get_tracking_uri()
        if not settings.master.startswith("local") and not uri.startswith(("http:", "https:")):
            raise ValueError(f"tuning.spark.master {settings.master}: workers on other machines "
                             f"need a tracking server (seqnetquake server), not {uri}")
        tracking = {"uri": uri, "experiment_id": parent.info.experiment_id,
                    "parent_run_id": parent.info.run_id}
        client = mlflow.MlflowClient()

    session = spark_session(settings, settings.parallelism)
    data = session.sparkContext.broadcast((plan.train, plan.val))
    try:
        fit = plan.fit
        model = spec.name

        def objective(params: dict[str, Any]) -> dict[str, Any]:
            return _run_trial_on_worker(params, model=model, data=data, fit=fit,
                                        tracking=tracking)

        strials = SparkTrials(parallelism=settings.parallelism, spark_session=session)
        if done_before:
            strials._insert_trial_docs(copy.deepcopy(done_before))
            strials.refresh()
        named: set[int] = {d["tid"] for d in done_before}
        saved = [n_start]
        lock = threading.Lock()

        def record(st: Any) -> Any:
            """Name the newly finished trials' runs; persist the contiguous finished prefix."""
            with lock:
                docs = list(st._dynamic_trials)
                for doc in sorted(docs, key=lambda d: d["tid"]):
                    if doc["state"] != JOB_STATE_DONE or doc["tid"] in named:
                        continue
                    named.add(doc["tid"])
                    res = doc["result"]
                    if client is not None and res.get("run_id"):
                        client.set_tag(res["run_id"], "trial", str(doc["tid"]))
                        client.set_tag(res["run_id"], "mlflow.runName", f"trial-{doc['tid']:03d}")
                    log(f"tune {spec.name} [spark]: trial {doc['tid'] + 1}/{max_evals} loss "
                        f"{res['loss']:.4f} (F1 {res['f1_weighted']:.4f}, MCC {res['mcc']:.4f}, "
                        f"{res['epochs']} epochs, {res['seconds']:.1f} s)")
                prefix = _plain(contiguous_done(docs))
                if len(prefix.trials) > saved[0] and on_trial is not None:
                    on_trial(prefix)
                saved[0] = len(prefix.trials)
                return prefix

        def early_stop(st: Any, *args: Any) -> tuple[bool, Any]:
            # SparkTrials calls this from its dispatcher thread whenever a trial finishes.
            return plan.stopped(record(st)), args

        if n_start < max_evals and not plan.stopped(_plain(done_before)):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Spark session is not provided")
                fmin(objective, plan.space, algo=tpe.suggest, max_evals=max_evals,
                     trials=strials, rstate=np.random.default_rng([plan.seed, n_start]),
                     early_stop_fn=early_stop, show_progressbar=False)
        final = record(strials)
    finally:
        data.unpersist()
    if client is not None:
        # Trials cancelled by the no-progress stop, or finished beyond the saved prefix.
        close_orphans(client, tracking["experiment_id"], tracking["parent_run_id"],
                      len(final.trials))
    failed = [d for d in strials.trials if d["state"] == JOB_STATE_ERROR]
    if failed:
        raise RuntimeError(f"tune {spec.name} [spark]: trial {failed[0]['tid']} failed: "
                           f"{failed[0]['misc'].get('error')}")
    if not final.trials:
        raise RuntimeError(f"tune {spec.name} [spark]: no trial finished")
    return plan.result(final, n_start)
