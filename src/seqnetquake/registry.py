"""MLflow model registry: registration (the register stage) and the guarded champion alias.

What a registered model is (the pyfunc wrapper, its input check, how it is logged) is
:mod:`seqnetquake.serving`'s.

Aliases, not the deprecated stages:

- every new version gets ``challenger``; the first version of a registered model that has no
  ``champion`` yet also becomes ``champion`` (there is nothing to compare it with, and
  ``models:/NAME@champion`` should resolve as soon as a model exists);
- ``promote`` moves ``champion`` to the challenger only if its gate metric (a version tag,
  ``registry.gate_metric`` = ``val_mcc``, measured on the validation part of the training
  data) is at least the champion's; a gate on a test metric is refused, because selecting on
  the test set makes its figures optimistic. Test figures are tagged and printed, never gated
  on. ``force`` with a reason overrides, and the reason is recorded on the version;
- the registered-model tag ``champion_history`` lists the previous champions (JSON, oldest
  first), so that ``rollback`` restores the last one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from filelock import FileLock, Timeout
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from seqnetquake import tracking
from seqnetquake.config import Config
from seqnetquake.errors import RegistryError
from seqnetquake.fileio import write_json
from seqnetquake.paths import LAYOUT, Layout, repo_root

# ClassifierModel stays importable here for good: models registered before serving.py existed
# carry a pyfunc_model.py that imports it from seqnetquake.registry, and loading one in a process
# that has already imported this package (predict, score) resolves that name here.
from seqnetquake.serving import ClassifierModel  # noqa: F401

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"


# The only metric tags a version carries (contract): validation (gated) and test (reported
# only); the rest stays on the training run.
METRIC_TAGS = tuple(f"{split}_{name}" for split in ("val", "test")
                    for name in ("mcc", "f1_weighted", "accuracy"))


# --------------------------------------------------------------------------- registration
@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    run_id: str
    new: bool
    aliases: list[str]

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__ | {"aliases": list(self.aliases)}


def _by_alias(client: MlflowClient, name: str, alias: str) -> Any | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _version(version: Any) -> str:
    """Version numbers as strings (the store returns ints or strings depending on the call)."""
    return str(version.version)


def _registered(client: MlflowClient, name: str) -> Any:
    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        raise RegistryError(f"{name}: no such registered model in "
                            f"{mlflow.get_tracking_uri()}") from exc


def _history(client: MlflowClient, name: str) -> list[str]:
    tags = _registered(client, name).tags
    raw = tags.get(HISTORY_TAG, "[]")
    try:
        history = json.loads(raw)
        if not isinstance(history, list) or not all(str(v).isdigit() for v in history):
            raise ValueError("expected a JSON list of version numbers")
    except ValueError as exc:
        raise RegistryError(f"{name}: registered-model tag {HISTORY_TAG} is corrupt ({raw!r}: "
                            f"{str(exc).splitlines()[0]}); fix it with the MLflow client or UI"
                            ) from exc
    return [str(v) for v in history]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def register_version(
    name: str,
    model_uri: str,
    run_id: str,
    metrics: dict[str, float],
    lineage: dict[str, str],
    description: str,
) -> Registered:
    """Register ``model_uri`` as a new version of ``name`` (once per training run).

    Metrics and lineage become version tags; the version becomes ``challenger``, and
    ``champion`` too if the model has none. Registering the same run again returns the
    version it already has and leaves the aliases alone, so the stage can be re-run.
    """
    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="SeqNetQuake (Xiong et al. 2021): raw Ne/Te windows (N x T x F) "
            "-> probabilities of non-seismic / seismic / storm.")
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        number = max(int(v.version) for v in existing)
        version = client.get_model_version(name, str(number))  # search leaves aliases out
        return Registered(name, _version(version), run_id, False, list(version.aliases))
    tags = {k: f"{v:.6g}" for k, v in metrics.items() if k in METRIC_TAGS} | lineage
    version = mlflow.register_model(model_uri, name, tags=tags)
    client.update_model_version(name, version.version, description=description)
    with serialised(name):
        return _set_new_version_aliases(client, name, version, run_id)


def _set_new_version_aliases(client: MlflowClient, name: str, version: Any,
                             run_id: str) -> Registered:
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    aliases = [CHALLENGER]
    if _by_alias(client, name, CHAMPION) is None:
        client.set_registered_model_alias(name, CHAMPION, version.version)
        client.set_model_version_tag(name, version.version, "champion_since", _now())
        client.set_model_version_tag(name, version.version, "champion_reason",
                                     "first version of the model (no champion to compare)")
        aliases.append(CHAMPION)
    return Registered(name, _version(version), run_id, True, aliases)


def _stage_record(stage_dir: Path) -> dict[str, Any]:
    """What a training stage left for registration: its run, model URI and test metrics."""
    try:
        run = json.loads((stage_dir / "mlflow.json").read_text())
        metrics = json.loads((stage_dir / "metrics.json").read_text())
    except OSError as exc:
        raise RegistryError(f"{stage_dir}: no trained model to register ({exc})") from exc
    return {**run, "metrics": metrics}


def _lineage(client: MlflowClient, run_id: str) -> dict[str, str]:
    """The training run's lineage tags: git commit, data kind, datasets, dvc.lock hashes."""
    try:
        tags = client.get_run(run_id).data.tags
    except MlflowException as exc:
        raise RegistryError(f"run {run_id} is not in the tracking store "
                            f"{mlflow.get_tracking_uri()}: re-run its training stage") from exc
    keep = ("git_commit", "data_kind", "dataset", "base_dataset", "model", "stage",
            "base_run_id")
    return {k: v for k, v in tags.items() if k in keep or k.startswith("dvc_md5/")} | {
        "source_run_id": run_id}


def _description(label: str, metrics: dict[str, float], lineage: dict[str, str]) -> str:
    nan = float("nan")
    return (f"{label}: validation MCC {metrics.get('val_mcc', nan):.4f}; test MCC "
            f"{metrics.get('test_mcc', nan):.4f}, "
            f"weighted F1 {metrics.get('test_f1_weighted', nan):.4f}, accuracy "
            f"{metrics.get('test_accuracy', nan):.4f}; data_kind "
            f"{lineage.get('data_kind', '?')}, git {lineage.get('git_commit', '?')[:10]}")


def _test_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The version's metric tags from a stage's metrics.json: :data:`METRIC_TAGS` only.

    Not a JSON cleaner: a NaN or non-numeric metric is left out (no tag, no entry in
    reports/registry.json), where ``metrics.json_safe`` would keep it as null.
    """
    return {k: float(metrics[k]) for k in METRIC_TAGS
            if isinstance(metrics.get(k), int | float) and metrics[k] == metrics[k]}


def figures(name: str, gate_metric: str) -> str:
    """Champion and challenger side by side: validation (the gate) and test (reported only).
    Empty when the model or the aliases are missing (promote then says why)."""
    client = MlflowClient()
    try:
        versions = {alias: _by_alias(client, name, alias) for alias in (CHAMPION, CHALLENGER)}
    except MlflowException:
        return ""
    lines = []
    for alias, version in versions.items():
        if version is None:
            continue
        def cell(key: str, tags: dict = version.tags) -> str:
            return f"{float(tags[key]):.4f}" if key in tags else "n/a"
        val = ", ".join(f"{k} {cell(k)}" for k in METRIC_TAGS if k.startswith("val_"))
        test = ", ".join(f"{k} {cell(k)}" for k in METRIC_TAGS if k.startswith("test_"))
        lines.append(f"{name} {alias} v{version.version}: validation {val} | test {test}")
    if lines:
        lines.append(f"gate: {gate_metric} (validation); test figures are reported, not gated")
    return "\n".join(lines)


def run_stage(cfg: Config, models_dir: str | Path = LAYOUT.models_dir,
              out: str | Path = LAYOUT.registry_summary) -> dict[str, Any]:
    """Register the DEMETER base model and the CSES fine-tuned model; write a summary JSON."""
    tracking.configure(cfg)
    client = MlflowClient()
    models_dir = Path(models_dir)
    base = _stage_record(models_dir / "base")
    transfer = _stage_record(models_dir / "transfer")

    base_lineage = _lineage(client, base["run_id"])
    base_metrics = _test_metrics(base["metrics"])
    base_reg = register_version(
        cfg.registry.base_model_name, base["model_uri"], base["run_id"], base_metrics,
        base_lineage, _description(f"DEMETER base model (dataset {cfg.train.base_dataset}, "
                                   "TS0)", base_metrics, base_lineage))

    transfer_lineage = _lineage(client, transfer["run_id"]) | {
        "base_model_name": cfg.registry.base_model_name,
        "base_model_version": base_reg.version,
    }
    transfer_metrics = _test_metrics(transfer["metrics"])
    transfer_reg = register_version(
        cfg.registry.transfer_model_name, transfer["model_uri"], transfer["run_id"],
        transfer_metrics, transfer_lineage,
        _description(f"CSES model fine-tuned from {cfg.registry.base_model_name} "
                     f"v{base_reg.version} (dataset {cfg.train.target_dataset}, TS1)",
                     transfer_metrics, transfer_lineage))
    # The transfer run could not know the base model's version when it ran: record it now.
    client.set_tag(transfer["run_id"], "base_model_version", base_reg.version)

    registered = ((base_reg, base_metrics), (transfer_reg, transfer_metrics))
    for r, _ in registered:  # run ids and the store's path vary per clone: printed, not saved
        print(f"{r.name} v{r.version} <- run {r.run_id} ({'new' if r.new else 'already'} "
              f"registered) in {mlflow.get_tracking_uri()}")
    # reports/registry.json is a DVC output committed with the results: only what the same
    # models give on any clone (a fresh store numbers them v1).
    summary = {
        "gate_metric": cfg.registry.gate_metric,
        "models": {r.name: {
            "version": r.version, "aliases": sorted(r.aliases),
            "gate_value": m.get(cfg.registry.gate_metric),
            "validation": {k: v for k, v in m.items() if k.startswith("val_")},
            "test": {k: v for k, v in m.items() if k.startswith("test_")}}
                   for r, m in registered},
    }
    write_json(summary, out)
    return summary


# --------------------------------------------------------------------------- promotion
def _gate_value(version: Any, metric: str) -> float:
    value = version.tags.get(metric)
    if value is None:
        raise RegistryError(f"{version.name} v{version.version} has no {metric!r} tag to gate on "
                            "(use --force --reason TEXT)")
    return float(value)


LOCK_TIMEOUT_S = 60.0


def lock_path() -> Path:
    """The lock file serialising alias changes: beside a local store (sqlite or file), else
    at the repository root (then it serialises the callers on this machine only)."""
    uri = mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return db.with_name(f"{db.name}.registry.lock")
    if uri.startswith("file:") or "://" not in uri:
        store = Path(uri.removeprefix("file://").removeprefix("file:"))
        return store / ".registry.lock"
    return Layout(repo_root()).registry_lock


@contextlib.contextmanager
def serialised(name: str) -> Iterator[None]:
    """Hold the registry lock: one promote/rollback/registration at a time."""
    path = lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout as exc:
        raise RegistryError(f"{name}: another promote/rollback holds {path} for more than "
                            f"{LOCK_TIMEOUT_S:.0f} s; try again") from exc
    try:
        yield
    finally:
        lock.release()


def _aliases(client: MlflowClient, name: str) -> tuple[str | None, str | None, list[str]]:
    champion, challenger = _by_alias(client, name, CHAMPION), _by_alias(client, name, CHALLENGER)
    return (_version(champion) if champion else None,
            _version(challenger) if challenger else None, _history(client, name))


def _unchanged(client: MlflowClient, name: str, seen: tuple) -> None:
    """Compare-and-set: refuse if another call changed the aliases while this one waited."""
    now = _aliases(client, name)
    if now != seen:
        champion, challenger, _ = now
        raise RegistryError(
            f"{name}: changed by a concurrent promote/rollback while waiting (champion now "
            f"v{champion or '-'}, challenger v{challenger or '-'}); nothing done, check and retry")


def _evaluation_data(version: Any) -> dict[str, str]:
    """The dvc.lock md5 of the window files a version was trained and evaluated on."""
    return {k: v for k, v in version.tags.items()
            if k.startswith("dvc_md5/") and k.endswith(".npz")}


def _same_evaluation_data(name: str, challenger: Any, champion: Any) -> None:
    new, old = _evaluation_data(challenger), _evaluation_data(champion)
    if new != old:
        key = sorted(set(new) ^ set(old) or {k for k in new if new[k] != old.get(k)})[0]
        raise RegistryError(
            f"{name}: challenger v{challenger.version} and champion v{champion.version} were "
            f"evaluated on different data ({key}: {new.get(key, 'none')} vs "
            f"{old.get(key, 'none')}); not comparable (override: --force --reason TEXT)")


def promote(name: str, gate_metric: str, force: bool = False, reason: str | None = None) -> str:
    """Move ``champion`` to the challenger if it is at least as good; return what happened.

    Serialised by :func:`serialised` and checked again inside the lock, so of two concurrent
    calls one wins and the other gets a one-line RegistryError. Raises RegistryError with a
    one-line reason whenever it refuses.
    """
    if not gate_metric.startswith("val_"):
        raise RegistryError(f"registry.gate_metric: {gate_metric!r} is not a validation metric "
                            "(val_*): promotion never selects on the test set")
    client = MlflowClient()
    _registered(client, name)
    seen = _aliases(client, name)
    with serialised(name):
        _unchanged(client, name, seen)
        return _promote(name, gate_metric, force, reason)


def _promote(name: str, gate_metric: str, force: bool = False, reason: str | None = None) -> str:
    client = MlflowClient()
    _registered(client, name)
    challenger = _by_alias(client, name, CHALLENGER)
    if challenger is None:
        raise RegistryError(f"{name}: no version has alias {CHALLENGER!r}; nothing to promote")
    champion = _by_alias(client, name, CHAMPION)
    if champion is not None and _version(champion) == _version(challenger):
        return f"{name}: v{challenger.version} is already {CHAMPION}"
    if force and not (reason and reason.strip()):
        raise RegistryError("--force needs --reason TEXT (it is recorded on the version)")
    if champion is not None and not force:
        _same_evaluation_data(name, challenger, champion)
        new, old = _gate_value(challenger, gate_metric), _gate_value(champion, gate_metric)
        if new < old:
            raise RegistryError(
                f"{name}: refused: challenger v{challenger.version} {gate_metric} {new:.4f} < "
                f"champion v{champion.version} {old:.4f} (override: --force --reason TEXT)")
    if champion is not None:
        history = [*_history(client, name), _version(champion)]
        client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    client.set_registered_model_alias(name, CHAMPION, challenger.version)
    client.delete_registered_model_alias(name, CHALLENGER)
    tags = {"champion_since": _now(),
            "promoted_over": _version(champion) if champion is not None else ""}
    if force:
        tags |= {"promotion_forced": "true", "promotion_reason": reason.strip()}
    for key, value in tags.items():
        client.set_model_version_tag(name, challenger.version, key, value)
    previous = f" (was v{champion.version})" if champion is not None else ""
    forced = " by force" if force else ""
    return f"{name}: v{challenger.version} is now {CHAMPION}{forced}{previous}"


def rollback(name: str) -> str:
    """Give ``champion`` back to the previous champion (the last entry of the history);
    serialised and compare-and-set like :func:`promote`."""
    client = MlflowClient()
    _registered(client, name)
    seen = _aliases(client, name)
    with serialised(name):
        _unchanged(client, name, seen)
        return _rollback(name)


def _rollback(name: str) -> str:
    client = MlflowClient()
    history = _history(client, name)
    if not history:
        raise RegistryError(f"{name}: no previous {CHAMPION} to roll back to")
    previous = history.pop()
    try:
        client.get_model_version(name, previous)
    except MlflowException as exc:
        raise RegistryError(f"{name}: cannot roll back to v{previous}: that version no longer "
                            f"exists (deleted?); history {HISTORY_TAG} = {history + [previous]}"
                            ) from exc
    current = _by_alias(client, name, CHAMPION)
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    if current is not None:
        client.set_model_version_tag(name, current.version, "rolled_back_at", _now())
        client.set_model_version_tag(name, current.version, "rolled_back_to", previous)
    was = f" (was v{current.version})" if current is not None else ""
    return f"{name}: {CHAMPION} rolled back to v{previous}{was}"
