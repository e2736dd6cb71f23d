"""Cost and skill of SeqNetQuake tuning protocols against the authors', side by side.

Not a test: prints figures. On dataset 07 (``data/processed/07`` if present, else a synthetic
dataset of similar size, see :func:`synthetic_dataset`):

* ours, one or more *candidates* (``--candidate``/``--candidates``, :data:`CANDIDATES`), each a
  ``tuning.search`` (TPE, nested MLflow runs in a throw-away sqlite store, so their cost is
  counted) of ``--ours-trials`` trials:

  - ``default``: today's protocol, ``MODELS["seqnetquake"].space`` (batches 64-256, units
    16-128), early stopping on the validation loss up to ``tuning.max_epochs`` with patience
    ``tuning.patience`` (params.yaml);
  - ``small-batch``: the same space with the authors' small batches (batch_size {16, 32, 64}),
    our units {16, 32, 64, 128}, patience 8, up to 100 epochs;
  - ``halving``: successive halving on top of TPE over the small-batch space: every trial
    trains ``--halving-epochs`` (8) epochs; a trial whose best validation loss (cross-entropy)
    is in the best 1/``--halving-factor`` (third) of the losses all trials so far reached at
    that budget continues, from its weights and its optimiser state, up to ``factor`` x the
    budget in total (8 -> 24 -> 72 epochs with ``--halving-rungs`` 3); within every segment
    early stopping (patience 8, the best weights of the whole trial kept); a trial that stopped
    early is not continued. TPE's loss is the final model's (minus validation F1). Every
    epoch of every segment counts in the trial's seconds and in the search's CPU;
  - ``halving-default``: the same successive halving over today's space (batches 64-256).

  The test (TS1) predictions of every trial's final model are recorded as the trial ends
  (never read by the search), so the top trials by validation F1 are scored exactly as
  selected, without retraining.
* the authors' (Xiong et al. 2021, PANXIONG-CN/SeqNetQuake ``CNNBiLSTM``): their space
  (``authors_space``: 1-5 BiLSTM layers of 64-512 units, 2-6 Dense layers of 64-512, batch
  10-100, a searched *fixed* 10/50/100 epochs, no early stopping, n_sub = 2, 'valid'
  convolutions). Their trials are random draws from that space, which is what TPE does for
  its first 20 trials anyway. Each trial is timed over ``--authors-probe-epochs`` (2) epochs
  and its full time extrapolated as that time + the remaining epochs x its median steady
  epoch time; ``--authors-full`` then trains the draws whose extrapolated cost is within
  ``--authors-budget-s`` fully (timed for real) and scores the top 3 (by validation F1) on
  TS1. The mean over the top 3 is less at the mercy of one lucky or unlucky selection on a
  validation split of a few hundred windows than the best alone.

Cost: s/trial is the search's wall time (TPE, MLflow and every training epoch; the recording
of test predictions excluded) over its trials; CPU-h per ``--evals`` (100) trials is the
process CPU time (all threads) of the search per trial, extrapolated. TS1 MCC: the best trial
by validation F1, and the mean over the top 3, each with a 95 % event-bootstrap interval
(``seqnetquake.metrics.event_bootstrap``; for the top-3 mean the same resampled events for the
three models, the mean taken per replicate). The synthetic dataset has no events: its
resampling unit is the pass (a pass's windows share one label and one background). Selection
is on the same chronological validation split for every protocol (the authors' input npz
holds only train and test arrays, so their search scored trials on the test set; we never do).
At the end, one markdown table (a row per candidate, and the authors' when run) ready for
docs/tuning.md; ``--out`` also writes every figure and trial as JSON.

    .venv/bin/python benchmarks/bench_tuning.py                 # a few minutes
    .venv/bin/python benchmarks/bench_tuning.py --synthetic --ours-trials 20 \\
        --authors-trials 5 --authors-full --authors-budget-s 1200   # ~25 min on 2 cores
    .venv/bin/python benchmarks/bench_tuning.py --synthetic --ours-trials 20 \\
        --candidates small-batch,halving,default --authors-trials 0 --out bench.json
        # estimated ~40 min on 2 cores (per-epoch costs measured, epoch counts guessed)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from seqnetquake.config import load_config  # noqa: E402
from seqnetquake.metrics import (  # noqa: E402
    event_bootstrap,
    event_confusions,
    format_ci,
    json_safe,
    metrics_from_confusion,
)
from seqnetquake.windowset import WindowSet, fit_validation_split, load_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TOP = 3  # TS1 MCC is also reported as the mean over the top trials by validation F1
SMALL_BATCHES = [16, 32, 64]  # the authors' range (10-100), as powers of two
SMALL_UNITS = [16, 32, 64, 128]  # ours (models/seqnetquake.py UNITS), stated here explicitly


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One tuning protocol to measure: a space, an epoch budget, successive halving or not.

    ``max_epochs``/``patience`` None: ``tuning.max_epochs``/``tuning.patience`` (params.yaml).
    """

    name: str
    what: str  # one line for the table
    space: str  # "default" (MODELS["seqnetquake"].space) | "small-batch"
    max_epochs: int | None = None
    patience: int | None = None
    halving: bool = False


CANDIDATES = {
    c.name: c
    for c in (
        Candidate("default", "today: batch {64,128,256}, units {16..128}, early stopping "
                  "(tuning.max_epochs, tuning.patience)", "default"),
        Candidate("small-batch", "batch {16,32,64}, units {16..128}, patience 8, max 100 "
                  "epochs", "small-batch", max_epochs=100, patience=8),
        Candidate("halving", "small-batch space + successive halving (best third continues)",
                  "small-batch", max_epochs=100, patience=8, halving=True),
        Candidate("halving-default", "today's space + successive halving (best third "
                  "continues)", "default", max_epochs=100, patience=8, halving=True),
    )
}


def candidate_space(spec: Any, which: str) -> dict[str, Any]:  # noqa: ANN401
    """``spec.space`` itself, or a copy with the batch and unit entries replaced (fresh hp
    nodes under the same labels, so every label stays unique)."""
    from hyperopt import hp

    if which == "default":
        return spec.space
    if which == "small-batch":
        return {
            **spec.space,
            "batch_size": hp.choice("batch_size", SMALL_BATCHES),
            "lstm_units": hp.choice("lstm_units", SMALL_UNITS),
            "fc_units": hp.choice("fc_units", SMALL_UNITS),
        }
    raise ValueError(f"unknown space {which!r}")


def synthetic_dataset(n_windows: int, T: int = 20, seed: int = 7) -> tuple[WindowSet, WindowSet]:
    """(train, test) like dataset 07: night passes of consecutive windows of one label.

    Per pass: a smooth Ne/Te background (log-normal level, latitude-like trend), 10 %
    instrument noise; label shares as in the paper's TS1 (45 / 44 / 11 %). 80 % of class-1
    passes carry Ne enhancements (a train of bumps one to three windows long, amplitude
    lognormal, median 25 %) with Te anti-correlated; class 2 (Kp > 3) is hotter and noisier.
    Tuned so that a random forest on window statistics reaches a TS1 MCC of about 0.45, the
    paper's order. The split is chronological, 80 / 20; passes never straddle it.
    """
    rng = np.random.default_rng(seed)
    X, y, hoid, t0 = [], [], [], []
    t = np.datetime64("2019-10-01T00:00:00", "ns")
    n, pass_id = 0, 0
    while n < n_windows:
        label = int(rng.choice(3, p=[0.453, 0.441, 0.106]))
        m = int(min(rng.poisson(8) + 1, n_windows - n))
        steps = np.arange(m * T)
        ne = 10 ** rng.normal(5.0, 0.25) * np.exp(rng.normal(0, 0.3) * steps / len(steps))
        te = rng.normal(1800, 200) + rng.normal(0, 150) * steps / len(steps)
        if label == 1 and rng.random() < 0.8:
            # A train of Ne enhancements a few windows wide, Te anti-correlated.
            amp = rng.lognormal(np.log(0.25), 0.5)
            bump = amp * np.clip(np.sin(2 * np.pi * steps / rng.uniform(T, 3 * T)), 0, None)
            ne *= 1 + bump
            te *= 1 - 0.3 * bump
        if label == 2:
            ne *= np.exp(rng.normal(0, 0.25, len(steps)))
            te += rng.uniform(300, 800)
        ne *= rng.lognormal(0, 0.1, len(steps))
        te *= rng.lognormal(0, 0.1, len(steps))
        X.append(np.stack([ne, te], -1).reshape(m, T, 2))
        y += [label] * m
        hoid += [pass_id] * m
        t0 += [t + np.timedelta64(int(30e9) * k, "ns") for k in range(m)]
        t += np.timedelta64(int(5700e9), "ns")
        n, pass_id = n + m, pass_id + 1
    ws = WindowSet(
        X=np.concatenate(X).astype(np.float32),
        y=np.array(y, dtype=np.int64),
        event_id=np.array([""] * n),
        t0=np.array(t0, dtype="datetime64[ns]"),
        lat=np.zeros(n),
        lon=np.zeros(n),
        half_orbit_id=np.array(hoid, dtype=np.int64),
    )
    return ws.chronological_split(0.2, gap_days=0.0)  # synthetic: no events to keep apart


def bootstrap_units(test: WindowSet, synthetic: bool) -> np.ndarray:
    """The event bootstrap's resampling unit per test window: the event (windows of no event:
    one pseudo-event each, as everywhere in the project); on the synthetic data, the pass."""
    if synthetic:
        return np.char.add("pass-", np.asarray(test.half_orbit_id).astype(str))
    return np.asarray(test.event_id)


def mcc_intervals(y: np.ndarray, preds: list[np.ndarray], units: np.ndarray,
                  n_samples: int, seed: int = 0) -> dict[str, float]:
    """TS1 MCC of the first prediction (the best trial) and the mean over all of them, each
    with a 95 % event-bootstrap interval. The mean's replicates resample the same events for
    every model (the draws of ``event_bootstrap`` with the same seed) and average per replicate.
    """
    if not preds:
        return {}
    best = event_bootstrap(y, preds[0], units, n_samples=n_samples, seed=seed)
    cms = [event_confusions(y, p, units) for p in preds]
    point = float(np.mean([metrics_from_confusion(cm.sum(axis=0))["mcc"] for cm in cms]))
    n_events = len(cms[0])
    out = {"best": best["mcc"], "best_low": best["mcc_ci_low"], "best_high": best["mcc_ci_high"],
           "top_mean": point, "top_mean_low": float("nan"), "top_mean_high": float("nan"),
           "top": [float(metrics_from_confusion(cm.sum(axis=0))["mcc"]) for cm in cms]}
    if n_events >= 2 and n_samples >= 1:
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n_events, np.full(n_events, 1.0 / n_events), size=n_samples)
        boot = np.mean([metrics_from_confusion(np.einsum("be,eij->bij", counts, cm))["mcc"]
                        for cm in cms], axis=0)
        low, high = np.nanpercentile(boot, [2.5, 97.5])
        out["top_mean_low"], out["top_mean_high"] = float(low), float(high)
    return out


def _ci(m: dict[str, float], key: str) -> str:
    if not m:
        return "not measured"
    value, low, high = m[key], m[f"{key}_low"], m[f"{key}_high"]
    return f"{value:.2f}" if low != low or high != high else format_ci(value, low, high)


def continue_stopping(best: float, patience: int) -> Any:  # noqa: ANN401
    """A Keras callback: early stopping across the segments of a continued trial. The best
    validation loss and weights of the whole trial so far are the baseline; ``patience``
    epochs without beating it stop the segment (``stopped``); the trial's best weights are
    restored at the segment's end (``best``: their loss)."""
    import keras

    class ContinueStopping(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best, self.patience, self.wait, self.stopped = float(best), int(patience), 0, False
            self.weights: list | None = None

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.weights = self.model.get_weights()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            loss = float((logs or {})["val_loss"])
            if loss < self.best:
                self.best, self.wait, self.weights = loss, 0, self.model.get_weights()
                return
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped = True
                self.model.stop_training = True

        def on_train_end(self, logs: dict | None = None) -> None:
            self.model.set_weights(self.weights)

    return ContinueStopping()


class Halving:
    """Successive halving on top of TPE: a drop-in for ``tuning.evaluate_params``.

    Rung budgets (epochs in total): ``first``, ``first * factor``, ... (``rungs`` of them,
    capped at ``max_epochs``). A trial finishing rung k continues when its best validation
    loss so far is among the best ``ceil(n / factor)`` of the n trials that reached rung k so
    far (itself included) and it did not stop early. Continuation is Keras ``fit`` on the same
    compiled model (weights and optimiser state kept, ``initial_epoch`` where it stopped).
    """

    def __init__(self, first: int, factor: int, rungs: int) -> None:
        self.first, self.factor, self.rungs = int(first), int(factor), int(rungs)
        self.losses: list[list[float]] = []  # per rung: the best val loss of every trial there

    def budgets(self, max_epochs: int) -> list[int]:
        out = []
        for k in range(self.rungs):
            out.append(min(self.first * self.factor**k, int(max_epochs)))
            if out[-1] >= max_epochs:
                break
        return out

    def promoted(self, rung: int, loss: float) -> bool:
        while len(self.losses) <= rung:
            self.losses.append([])
        self.losses[rung].append(loss)
        seen = self.losses[rung]
        return sum(v < loss for v in seen) < math.ceil(len(seen) / self.factor)

    def __call__(self, spec: Any, params: dict[str, Any], train: WindowSet,  # noqa: ANN401
                 val: WindowSet, *, max_epochs: int, patience: int, seed: int) -> dict[str, Any]:
        from seqnetquake.models.families import EpochTimer, check_windows
        from seqnetquake.tuning import score

        start = time.perf_counter()
        budgets = self.budgets(max_epochs)
        clf = spec.build(params, train.T, train.F)
        fit = clf.fit(train, val, max_epochs=budgets[0], patience=patience, seed=seed)
        history = {k: list(v) for k, v in fit.history.items()}
        epochs, best = fit.epochs, min(history["val_loss"])
        stopped, rung = fit.epochs < budgets[0], 0
        X = y = Xv = yv = None
        # Every trial's loss at every rung it reaches before the last counts for the bar,
        # stopped early or not; only a trial not stopped early continues.
        while rung + 1 < len(budgets) and self.promoted(rung, best) and not stopped:
            if X is None:
                X = check_windows(train.X, clf.T, clf.channels)
                y = np.asarray(train.y, dtype=np.int64)
                Xv = check_windows(val.X, clf.T, clf.channels)
                yv = np.asarray(val.y, dtype=np.int64)
            rung += 1
            stop, timer = continue_stopping(best, patience), EpochTimer()
            more = clf.model.fit(
                X, y, batch_size=int(params.get("batch_size", 64)), epochs=budgets[rung],
                initial_epoch=epochs, validation_data=(Xv, yv),
                validation_batch_size=max(len(val), 1), shuffle=True, verbose=0,
                callbacks=[stop, timer],
            )
            for key, values in more.history.items():
                history.setdefault(key, []).extend(float(v) for v in values)
            history["seconds"] = [*history.get("seconds", []), *timer.seconds]
            epochs += len(more.history.get("loss", []))
            best, stopped = stop.best, stop.stopped
        metrics = score(val.y, clf.predict_proba(val.X))
        return {
            "loss": -metrics["f1_weighted"],
            **metrics,
            "epochs": int(epochs),
            "seconds": time.perf_counter() - start,
            "history": history,
            "rung": rung + 1,
            "val_loss": float(best),
        }


class Recorder:
    """Wraps ``spec.build`` so that the classifier a trial trained can be read when it ends."""

    def __init__(self, spec: Any) -> None:  # noqa: ANN401
        self.spec = dataclasses.replace(spec, build=self.build)
        self._build = spec.build
        self.last: Any = None

    def build(self, params: dict[str, Any], T: int, F: int) -> Any:  # noqa: ANN401
        self.last = self._build(params, T, F)
        return self.last


def describe(params: dict[str, Any]) -> str:
    return (f"batch {params.get('batch_size')}, n_sub {params.get('n_sub')}, "
            f"{params.get('lstm_layers')} x BiLSTM({params.get('lstm_units')}), "
            f"{params.get('fc_layers')} x Dense({params.get('fc_units')})")


def run_candidate(cand: Candidate, spec: Any, fit_set: WindowSet, val: WindowSet,  # noqa: ANN401
                  test: WindowSet, cfg: Any, args: argparse.Namespace,  # noqa: ANN401
                  units: np.ndarray) -> dict[str, Any]:
    """One TPE search of ``args.ours_trials`` trials under ``cand``; costs and TS1 MCCs."""
    import mlflow

    from seqnetquake.tuning import search

    max_epochs = next(v for v in (args.max_epochs, cand.max_epochs, cfg.tuning.max_epochs)
                      if v is not None)
    patience = next(v for v in (args.patience, cand.patience, cfg.tuning.patience)
                    if v is not None)
    space = candidate_space(spec, cand.space)
    recorder = Recorder(spec)
    preds: dict[int, np.ndarray] = {}
    extra = {"wall": 0.0, "cpu": 0.0}
    lines: list[str] = []

    def on_trial(trials: Any) -> None:  # noqa: ANN401
        wall, cpu = time.perf_counter(), time.process_time()
        index = len(trials.trials) - 1
        preds[index] = recorder.last.predict_proba(test.X).argmax(axis=1)
        recorder.last = None
        result = trials.trials[-1]["result"]
        rung = f", rung {result['rung']}" if "rung" in result else ""
        lines.append(f"{describe(result['params'])}{rung}")
        extra["wall"] += time.perf_counter() - wall
        extra["cpu"] += time.process_time() - cpu

    def log(line: str) -> None:
        print(f"  [{cand.name}] {line.removeprefix(f'tune {spec.name}: ')}; "
              f"{lines[-1] if lines else ''}", file=sys.stderr, flush=True)

    patch: contextlib.AbstractContextManager = contextlib.nullcontext()
    halving = None
    if cand.halving:
        halving = Halving(args.halving_epochs, args.halving_factor, args.halving_rungs)
        patch = mock.patch("seqnetquake.tuning.tpe.evaluate_params", halving)
    with tempfile.TemporaryDirectory() as tmp, patch:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        mlflow.set_experiment("bench")
        cpu, wall = time.process_time(), time.perf_counter()
        with mlflow.start_run(run_name=f"bench-{cand.name}"):
            result = search(recorder.spec, fit_set, val, max_evals=args.ours_trials,
                            seed=cfg.tuning.seed, max_epochs=max_epochs, patience=patience,
                            space=space, nested_runs=True, on_trial=on_trial, log=log)
        cpu = time.process_time() - cpu - extra["cpu"]
        wall = time.perf_counter() - wall - extra["wall"]
    results = result.trials.results
    n = len(results)
    order = sorted(range(n), key=lambda i: results[i]["loss"])[:TOP]
    mcc = mcc_intervals(test.y, [preds[i] for i in order], units, args.bootstrap_samples)
    return {
        "candidate": cand.name, "what": cand.what, "max_epochs": max_epochs,
        "patience": patience, "trials": n, "wall_s": wall, "cpu_s": cpu,
        "s_per_trial": wall / n, "cpu_h_per_evals": cpu / n * args.evals / 3600,
        "fit_s": [r["seconds"] for r in results], "epochs": [r["epochs"] for r in results],
        "rungs": [r.get("rung") for r in results],
        "val_f1": [r["f1_weighted"] for r in results],
        "params": [r["params"] for r in results],
        "best_val_f1": -result.best_loss, "best_params": result.best_params,
        "top_trials": order, "mcc": mcc,
        **({"halving": {"budgets": halving.budgets(max_epochs), "factor": halving.factor}}
           if halving is not None else {}),
    }


def print_candidate(r: dict[str, Any], evals: int) -> None:
    print(f"\n{r['candidate']} ({r['what']}; max_epochs {r['max_epochs']}, patience "
          f"{r['patience']}{', budgets ' + str(r['halving']['budgets']) if 'halving' in r else ''}"
          f"): {r['trials']} TPE trials")
    print(f"  trial: {r['s_per_trial']:.1f} s wall (training + scoring: mean "
          f"{statistics.mean(r['fit_s']):.1f}, min {min(r['fit_s']):.1f}, max "
          f"{max(r['fit_s']):.1f}); epochs run {r['epochs']}"
          + (f"; rungs reached {r['rungs']}" if 'halving' in r else ""))
    print(f"  search: {r['wall_s']:.0f} s wall, {r['cpu_s']:.0f} s CPU; -> {evals} trials ~ "
          f"{r['s_per_trial'] * evals / 3600:.2f} h wall, {r['cpu_h_per_evals']:.2f} CPU-h")
    print(f"  best val F1 {r['best_val_f1']:.4f}; TS1 MCC best {_ci(r['mcc'], 'best')}, "
          f"top {len(r['mcc']['top'])} by val F1 {', '.join(f'{m:.3f}' for m in r['mcc']['top'])}"
          f" (mean {_ci(r['mcc'], 'top_mean')})")
    print(f"  best params {r['best_params']}", flush=True)


def markdown_table(rows: list[dict[str, Any]], source: str, evals: int, authors_s: float,
                   authors_measured: bool) -> str:
    ref = "authors' (this run)" if authors_measured else f"authors' {authors_s:.0f} s/trial"
    out = [f"Data: {source}.", "",
           f"| protocol | trials | s/trial | CPU-h per {evals} trials | cheaper than {ref} "
           f"| epochs/trial (mean) | TS1 MCC best [95 %] | TS1 MCC top-{TOP} mean [95 %] |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cheaper = "-" if r["candidate"] == "authors" else f"{authors_s / r['s_per_trial']:.0f}x"
        out.append(f"| {r['candidate']}: {r['what']} | {r['trials']} | {r['s_per_trial']:.1f} | "
                   f"{r['cpu_h_per_evals']:.2f} | {cheaper} | "
                   f"{statistics.mean(r['epochs']):.0f} | {_ci(r['mcc'], 'best')} | "
                   f"{_ci(r['mcc'], 'top_mean')} |")
    return "\n".join(out)


def run_authors(spec, fit_set, val, test, cfg, trials: int, probe: int,  # noqa: ANN001
                full: bool, budget_s: float) -> dict:
    """Random draws from the authors' space, trained their way (fixed epochs, no stopping).

    Every draw is first trained for ``probe`` epochs and its full cost extrapolated; with
    ``full``, draws whose extrapolated cost is within ``budget_s`` are then trained for all
    their epochs (timed for real) and scored on TS1, the best by validation F1 reported.
    """
    from hyperopt.pyll.stochastic import sample

    from seqnetquake.tuning import score

    rng = np.random.default_rng(cfg.tuning.seed)
    rows, scored, cpu = [], [], time.process_time()
    wall = time.perf_counter()
    for i in range(trials):
        params = sample(spec.authors_space, rng=rng)
        epochs = int(params["nb_epochs"])
        ran = min(epochs, probe)
        start = time.perf_counter()
        clf = spec.build({**params, "nb_epochs": ran}, fit_set.T, fit_set.F)
        fit = clf.fit(fit_set, val, max_epochs=ran, patience=0, seed=cfg.tuning.seed)
        val_scores = score(val.y, clf.predict_proba(val.X))
        measured = time.perf_counter() - start
        steady = statistics.median(fit.history["seconds"][1:] or fit.history["seconds"])
        cost, how = measured + (epochs - ran) * steady, f"extrapolated from {ran} epochs"
        if full and ran < epochs and cost <= budget_s:
            start = time.perf_counter()
            clf = spec.build(params, fit_set.T, fit_set.F)
            clf.fit(fit_set, val, max_epochs=epochs, patience=0, seed=cfg.tuning.seed)
            val_scores = score(val.y, clf.predict_proba(val.X))
            cost, how, ran = time.perf_counter() - start, "measured", epochs
        if ran == epochs:
            proba = clf.predict_proba(test.X)
            scored.append((val_scores["f1_weighted"], score(test.y, proba), proba.argmax(1)))
        rows.append({"params": params, "full_s": cost, "val_f1": val_scores["f1_weighted"],
                     "epochs": epochs, "how": how})
        print(f"  authors trial {i + 1}/{trials}: {epochs} epochs, batch "
              f"{params['batch_size']}, {params['lstm_layers']} x BiLSTM({params['lstm_units']})"
              f", {params['fc_layers']} x Dense({params['fc_units']}): {cost:.0f} s ({how})"
              + (f"; val F1 {val_scores['f1_weighted']:.3f}" if ran == epochs else ""),
              file=sys.stderr, flush=True)
    ranked = sorted(scored, key=lambda vt: -vt[0])[:TOP]
    return {"rows": rows, "cpu_s": time.process_time() - cpu,
            "wall_s": time.perf_counter() - wall, "test": ranked[0][1] if ranked else None,
            "top": [t for _, t, _ in ranked], "preds": [p for _, _, p in ranked]}


def _top(scores: list[dict]) -> str:
    mccs = [t["mcc"] for t in scores]
    listed = ", ".join(f"{m:.3f}" for m in mccs)
    return f"top {len(mccs)} by val F1: TS1 MCC {listed} (mean {np.mean(mccs):.3f})"


def parse_candidates(args: argparse.Namespace) -> list[Candidate]:
    names = [n.strip() for n in (args.candidates or args.candidate or "default").split(",")]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown or not names:
        raise SystemExit(f"unknown candidate(s) {unknown}; known: {', '.join(CANDIDATES)}")
    return [CANDIDATES[n] for n in names]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset-dir", type=Path, default=REPO / "data/processed/07")
    ap.add_argument("--synthetic", action="store_true",
                    help="use the synthetic dataset even where dataset 07 exists")
    ap.add_argument("--windows", type=int, default=6000, help="synthetic dataset size")
    ap.add_argument("--candidate", choices=list(CANDIDATES),
                    help="our protocol to measure (default: default)")
    ap.add_argument("--candidates", help="several, comma-separated, one process, one table: "
                    f"any of {','.join(CANDIDATES)}")
    ap.add_argument("--ours-trials", type=int, default=6,
                    help="TPE trials per candidate (0: none, the authors' rows only)")
    ap.add_argument("--halving-epochs", type=int, default=8, help="halving: first budget")
    ap.add_argument("--halving-factor", type=int, default=3,
                    help="halving: budget growth, and 1/fraction continued (3: best third)")
    ap.add_argument("--halving-rungs", type=int, default=3,
                    help="halving: budgets (3: 8, 24, 72 epochs in total)")
    ap.add_argument("--authors-trials", type=int, default=3)
    ap.add_argument("--authors-probe-epochs", type=int, default=2,
                    help="epochs timed per authors' trial to extrapolate its full cost")
    ap.add_argument("--authors-full", action="store_true",
                    help="also train the authors' trials fully (for their TS1 MCC)")
    ap.add_argument("--authors-budget-s", type=float, default=1800,
                    help="with --authors-full: longest extrapolated trial to train fully")
    ap.add_argument("--authors-s-per-trial", type=float, default=413.0,
                    help="the authors' s/trial the table compares with when they are not run "
                    "here (413: synthetic 6000 windows, docs/tuning.md)")
    ap.add_argument("--evals", type=int, default=100, help="search size to extrapolate to")
    ap.add_argument("--bootstrap-samples", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2, help="TensorFlow CPU threads")
    ap.add_argument("--max-epochs", type=int, help="override every candidate's max_epochs")
    ap.add_argument("--patience", type=int, help="override every candidate's patience")
    ap.add_argument("--out", type=Path, help="write every figure and trial here (JSON)")
    args = ap.parse_args(argv)
    candidates = parse_candidates(args)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    from seqnetquake.models import get_model

    cfg = load_config(REPO / "params.yaml")
    synthetic = args.synthetic or not (args.dataset_dir / "train.npz").exists()
    if not synthetic:
        train, test = load_dataset(args.dataset_dir)
        source = str(args.dataset_dir)
    else:
        train, test = synthetic_dataset(args.windows)
        source = f"synthetic ({args.windows} windows, T = 20)"
    fit_set, val = fit_validation_split(train, cfg)
    spec = get_model("seqnetquake")
    units = bootstrap_units(test, synthetic)
    source += (f": fit {len(fit_set)}, validation {len(val)}, test {len(test)} "
               f"({len(np.unique(units))} bootstrap units)")
    print(f"data: {source}; classes in test {np.bincount(test.y, minlength=3).tolist()}; "
          f"{os.cpu_count()} CPUs, TF threads {args.threads}", flush=True)

    import keras

    rows = []
    for cand in candidates if args.ours_trials > 0 else []:  # 0: the authors' rows only
        keras.utils.clear_session()  # the graphs of an earlier candidate's search freed
        rows.append(run_candidate(cand, spec, fit_set, val, test, cfg, args, units))
        print_candidate(rows[-1], args.evals)
    authors_s, authors_measured = args.authors_s_per_trial, False
    if args.authors_trials >= 1:
        authors = run_authors(spec, fit_set, val, test, cfg, args.authors_trials,
                              args.authors_probe_epochs, args.authors_full,
                              args.authors_budget_s)
        authors_s, authors_measured = statistics.mean(r["full_s"] for r in authors["rows"]), True
        cpu_per_wall = authors["cpu_s"] / authors["wall_s"]
        print(f"\nauthors ({args.authors_trials} random trials, fixed 10/50/100 epochs, no "
              f"early stopping; costs measured or extrapolated as listed above):")
        print(f"  trial: mean {authors_s:.0f} s; measured {authors['wall_s']:.0f} s wall, "
              f"{authors['cpu_s']:.0f} s CPU; -> {args.evals} trials ~ "
              f"{authors_s * args.evals / 3600:.1f} h")
        mcc = mcc_intervals(test.y, authors["preds"], units, args.bootstrap_samples)
        if authors["test"]:
            print(f"  TS1 (best by val F1): MCC {_ci(mcc, 'best')}, "
                  f"F1 {authors['test']['f1_weighted']:.4f}; {_top(authors['top'])}; "
                  f"the mean with its interval {_ci(mcc, 'top_mean')}")
        else:
            print("  TS1 MCC: not measured (run with --authors-full)")
        rows.append({
            "candidate": "authors", "what": "random draws of their space, fixed 10/50/100 "
            "epochs", "trials": args.authors_trials, "s_per_trial": authors_s,
            "cpu_h_per_evals": authors_s * cpu_per_wall * args.evals / 3600,
            "epochs": [r["epochs"] for r in authors["rows"]], "mcc": mcc,
            "trial_rows": authors["rows"],
        })
    print(f"\n{markdown_table(rows, source, args.evals, authors_s, authors_measured)}")
    if args.out:
        args.out.write_text(json.dumps(json_safe({"data": source, "rows": rows}), indent=1)
                            + "\n")
        print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
