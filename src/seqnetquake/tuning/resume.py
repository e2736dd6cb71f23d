"""A search folder's state, and what a re-run resumes (:class:`SearchState`).

The folder (``models/tuning/<model>/``, a DVC output that can arrive from a shared cache) holds
``trials.json``, the trial documents as JSON (data only, never a pickle), rewritten atomically
after every trial, and ``resume.json``: the fingerprint of what the trials were computed on
(:func:`fingerprint`: model, space, data, seed, the fit/validation cut, epochs) and the parent
MLflow run. A re-run with the same fingerprint continues those trials under the same parent
run, when the tracking store still has it; the child runs the interrupted search left behind
are closed (:func:`close_orphans`). A changed fingerprint starts afresh.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from hyperopt import Trials
from hyperopt.exceptions import InvalidTrial
from hyperopt.pyll import as_apply

from seqnetquake.config import Config
from seqnetquake.contracts import BEST_PARAMS_FILE
from seqnetquake.errors import InputError
from seqnetquake.fileio import atomic_path, remove_stale_temporaries, write_json
from seqnetquake.metrics import json_safe
from seqnetquake.windowset import validation_gap_days

TRIALS_FILE = "trials.json"  # the trial documents (JSON); never a pickle
SEARCH_FILE = "search.json"
STATE_FILE = "resume.json"  # fingerprint of what the trials were computed on + parent run id
_DATETIME = "$datetime"


# --------------------------------------------------------------------------- what was searched on
def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(cfg: Config, model: str, space: dict[str, Any], data_sha256: str) -> str:
    """What the saved trials depend on: a change in any of these starts a fresh search.

    ``max_evals`` is deliberately not part of it: raising it continues the search.
    """
    t = cfg.tuning
    payload = {
        "model": model,
        "space": str(as_apply(space)),  # the printed graph: stable across processes
        "data_sha256": data_sha256,
        "seed": t.seed,
        "validation_fraction": t.validation_fraction,
        "validation_gap_days": validation_gap_days(cfg),
        "max_epochs": t.max_epochs,
        "patience": t.patience,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------- trials as JSON
def _encode(value: Any) -> Any:
    """JSON ``default``: the non-JSON values of hyperopt trial documents, exactly."""
    if isinstance(value, dt.datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, np.generic | np.ndarray):
        return json_safe(value)
    raise TypeError(f"not JSON-serialisable in a trial document: {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if set(obj) == {_DATETIME}:
        return dt.datetime.fromisoformat(obj[_DATETIME])
    return obj


def trials_to_json(trials: Any) -> str:
    """The trial documents (and attachments) of a ``hyperopt.Trials`` as plain JSON."""
    return json.dumps({"format": 1, "trials": list(trials._dynamic_trials),
                       "attachments": dict(trials.attachments)}, default=_encode)


def trials_from_json(text: str, source: str | Path = TRIALS_FILE) -> Any:
    """A ``hyperopt.Trials`` rebuilt from :func:`trials_to_json` (data only; nothing runs)."""
    try:
        state = json.loads(text, object_hook=_decode)
        if not isinstance(state, dict) or state.get("format") != 1:
            raise ValueError("unknown format (expected an object with format 1)")
        trials = Trials()
        trials.insert_trial_docs(state["trials"])
        trials.attachments.update(state.get("attachments", {}))
        trials.refresh()
    except (ValueError, KeyError, TypeError, InvalidTrial) as exc:
        raise InputError(source, "trials", f"not a saved search: {exc}".splitlines()[0]) from exc
    return trials


def save_trials(trials: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(trials_to_json(trials))


# --------------------------------------------------------------------------- the folder's state
class SearchState:
    """The saved state of one search folder, and the decision of what a re-run resumes.

    :meth:`open` reads it (the trials when the fingerprint matches, else nothing);
    :meth:`reattach` keeps the saved parent run only when this tracking store still has it;
    :meth:`resume` closes the interrupted search's child runs. ``save_*`` write the files.
    """

    def __init__(self, out_dir: Path, fingerprint: str, trials: Any = None,
                 parent_run_id: str | None = None):
        self.out_dir = Path(out_dir)
        self.fingerprint = fingerprint
        self.trials = trials  # hyperopt.Trials to continue, or None
        self.parent_run_id = parent_run_id

    @classmethod
    def open(cls, out_dir: Path, fp: str) -> SearchState:
        """The folder's state (created if missing; a killed run's temporaries removed)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in (TRIALS_FILE, STATE_FILE, SEARCH_FILE, BEST_PARAMS_FILE):
            remove_stale_temporaries(out_dir / name)
        state_path, trials_path = out_dir / STATE_FILE, out_dir / TRIALS_FILE
        if not state_path.exists():
            return cls(out_dir, fp)
        saved = json.loads(state_path.read_text())
        if saved.get("fingerprint") != fp:
            print(f"tune: {out_dir}: data, space or settings changed; starting afresh",
                  file=sys.stderr)
            return cls(out_dir, fp)
        if (out_dir / "trials.pkl").exists():
            print(f"tune: {out_dir / 'trials.pkl'}: ignored (pickles are never loaded); the "
                  f"search state is {TRIALS_FILE}", file=sys.stderr)
        trials = None
        if trials_path.exists():
            trials = trials_from_json(trials_path.read_text(), trials_path)
        return cls(out_dir, fp, trials, saved.get("parent_run_id"))

    @property
    def n_done(self) -> int:
        """Finished trials to continue from."""
        return len(self.trials.trials) if self.trials is not None else 0

    def reattach(self, client: Any, experiment_id: str) -> str | None:
        """The saved parent run if this store still has it, active, in ``experiment_id``;
        else None (a new parent will hold the rest)."""
        self.parent_run_id = usable_parent(client, self.parent_run_id, experiment_id)
        return self.parent_run_id

    def resume(self, client: Any, experiment_id: str, model: str) -> None:
        """Say what continues; mark KILLED the child runs the interrupted search left."""
        if self.parent_run_id is None and self.n_done:
            print(f"tune {model}: parent run not found in this store; a new one holds the rest",
                  file=sys.stderr)
        if self.parent_run_id is not None:
            closed = close_orphans(client, experiment_id, self.parent_run_id, self.n_done)
            if closed:
                print(f"tune {model}: marked {closed} interrupted trial run(s) KILLED",
                      file=sys.stderr)
        if self.n_done:
            print(f"tune {model}: resuming after {self.n_done} finished trial(s)",
                  file=sys.stderr)

    def save_parent(self, run_id: str) -> None:
        """resume.json: this fingerprint's trials belong under ``run_id``."""
        self.parent_run_id = run_id
        write_json({"fingerprint": self.fingerprint, "parent_run_id": run_id},
                   self.out_dir / STATE_FILE)

    def save_trials(self, trials: Any) -> None:
        """trials.json (atomically: a kill never leaves half a file)."""
        save_trials(trials, self.out_dir / TRIALS_FILE)


# --------------------------------------------------------------------------- MLflow runs
def close_orphans(client: Any, experiment_id: str, parent_run_id: str, n_done: int) -> int:
    """Mark KILLED the child runs of a killed search: those still RUNNING, and finished ones
    whose trial never reached trials.json (it will be recomputed). Returns how many."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=50000,
    )
    closed = 0
    for run in runs:
        trial = run.data.tags.get("trial")
        orphan = run.info.status == "RUNNING" or (  # no trial tag: a Spark trial never recorded
            run.info.status == "FINISHED" and (trial is None or int(trial) >= n_done)
        )
        if orphan:
            client.set_terminated(run.info.run_id, status="KILLED")
            client.set_tag(run.info.run_id, "killed_reason", "search interrupted; trial redone")
            closed += 1
    return closed


def usable_parent(client: Any, run_id: str | None, experiment_id: str) -> str | None:
    if not run_id:
        return None
    from mlflow.exceptions import MlflowException  # deferred: heavy

    try:
        run = client.get_run(run_id)
    except MlflowException:  # deleted, or the id comes from another tracking store
        return None
    if run.info.experiment_id != experiment_id or run.info.lifecycle_stage != "active":
        return None
    return run_id
