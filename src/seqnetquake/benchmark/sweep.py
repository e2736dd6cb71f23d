"""The amplitude sweep and the control twins, run as DVC experiments and collected.

``seqnetquake benchmark sweep`` (``make benchmark``) queues one ``dvc exp run`` per variant,
each targeting the ``benchmark`` stage (so ``register`` never runs in an experiment, and
stages the variant does not change are reused):

- ``simulate.precursor.amplitude_scale`` at every ``benchmark.amplitude_scales`` value but 1
  (this run); scale 0 is the zero-amplitude twin;
- ``catalog.artificial.mode=location_matched`` (location-matched controls);
- ``catalog.shuffle.mode=time_shuffled`` (the time-shuffled null);
- ``windows.features`` set to each ``benchmark.channel_sets`` entry (``raw``: the paper's
  ``[ne_cm3,te_k]``; ``detr``: the along-track detrended residuals) at every
  ``benchmark.channel_scales`` value (``bench-<set>-scale-<k>``), reported apart from the sweep
  (``stage.summarise``: ``raw_channels``, ``other_channels``); none for the set this run uses;

runs the queue (``dvc exp run --run-all -j 1``), then ``collect`` reads each experiment's
``reports/benchmark_details.json`` from its git ref, writes ``reports/benchmark_sweep.json``
and copies its test-window tables into ``reports/benchmark_sweep/<variant>/`` (the paired
residual-vs-raw comparison reads them), logs one MLflow parent run with a nested run per
variant (tags ``data_kind``, ``amplitude_scale``, ``controls``), prints where the time went
(per stage, from the MLflow runs each experiment logged), and ``dvc repro benchmark`` folds it
into ``reports/benchmark.json`` / ``benchmark.md``.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqnetquake import tracking
from seqnetquake.benchmark.stage import (
    SWEEP_FILE,
    run_metrics,
    scale_key,
    sweep_windows_dir,
)
from seqnetquake.config import Config
from seqnetquake.fileio import atomic_path, write_json

PREFIX = "bench-"
DETAILS = "reports/benchmark_details.json"
WINDOWS = "reports/benchmark"  # each run's windows_<dataset>_test.parquet


def name_key(scale: float) -> str:
    """An amplitude scale in an experiment name: 0.5 -> 0p5 (no dots in git refs' names)."""
    return scale_key(scale).replace(".", "p")


def variants(cfg: Config) -> dict[str, dict[str, Any]]:
    """Experiment name -> the ``-S`` overrides of that variant."""
    out: dict[str, dict[str, Any]] = {}
    this_scale = cfg.simulate.precursor.amplitude_scale
    for scale in cfg.benchmark.amplitude_scales:
        if float(scale) == this_scale:
            continue  # this run
        out[f"{PREFIX}scale-{name_key(scale)}"] = {
            "simulate.precursor.amplitude_scale": float(scale)}
    out[f"{PREFIX}location-matched"] = {"catalog.artificial.mode": "location_matched"}
    out[f"{PREFIX}time-shuffled"] = {"catalog.shuffle.mode": "time_shuffled"}
    for name, channels in cfg.benchmark.channel_sets.items():
        if list(channels) == list(cfg.windows.features):
            continue  # this run's channels: the sweep above
        for scale in cfg.benchmark.channel_scales:
            overrides: dict[str, Any] = {"windows.features": list(channels)}
            if float(scale) != this_scale:
                overrides["simulate.precursor.amplitude_scale"] = float(scale)
            out[f"{PREFIX}{name}-scale-{name_key(scale)}"] = overrides
    return out


def override_arg(key: str, value: Any) -> str:
    """One ``-S`` value in Hydra's override grammar: a list as ``key=[a,b]``."""
    if isinstance(value, (list, tuple)):
        return f"{key}=[{','.join(str(v) for v in value)}]"
    return f"{key}={value}"


def chosen(cfg: Config, only: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """The variants ``only`` names (all when None); an unknown name is an error."""
    found = variants(cfg)
    if only is None:
        return found
    unknown = sorted(set(only) - set(found))
    if unknown:
        raise ValueError(f"unknown sweep variant(s) {', '.join(unknown)}; this params.yaml has "
                         f"{', '.join(found)}")
    return {name: found[name] for name in found if name in only}


def untracked_tables(root: Path | None = None) -> list[str]:
    """Collected test-window tables git does not track yet (a folder when none of it is
    tracked): a queued experiment must be given them (``-C``), or its benchmark stage finds
    the sweep file naming tables it does not have. Tracked ones it has already."""
    root = root or sweep_windows_dir(SWEEP_FILE)
    if not root.is_dir():
        return []
    found = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "--directory",
                            root.as_posix()], capture_output=True, text=True, check=False)
    return [line.rstrip("/") for line in found.stdout.splitlines() if line.strip()]


def queue_commands(cfg: Config, only: Sequence[str] | None = None) -> list[list[str]]:
    """The ``dvc exp run --queue`` command of every variant (targets: the benchmark stage)."""
    untracked = untracked_tables()
    cmds = []
    for name, overrides in chosen(cfg, only).items():
        cmd = ["dvc", "exp", "run", "--queue", "-n", name]
        for key, value in overrides.items():
            cmd += ["-S", override_arg(key, value)]
        for path in untracked:  # a queued run sees tracked files only
            cmd += ["-C", path]
        cmds.append([*cmd, "benchmark"])
    return cmds


def _run(cmd: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
    print("+", shlex.join(cmd), flush=True)
    # dvc from this environment when it is not activated (``.venv/bin/seqnetquake ...``)
    program = shutil.which(cmd[0]) or str(Path(sys.executable).with_name(cmd[0]))
    return subprocess.run([program, *cmd[1:]], check=check)


def run_sweep(cfg: Config, dry: bool = False, only: Sequence[str] | None = None) -> None:
    """Queue every variant (or ``only`` those), run the queue, collect, and refresh the
    benchmark stage; with ``only``, the other variants keep their collected entries."""
    removes = [["dvc", "exp", "remove", name] for name in chosen(cfg, only)]  # replace a re-run
    cmds = [*queue_commands(cfg, only), ["dvc", "exp", "run", "--run-all", "-j", "1"]]
    if dry:
        for cmd in removes + cmds:
            print(shlex.join(cmd))  # copy-pasteable: a list override is quoted
        keep = "".join(f" --only {name}" for name in only or ())
        print(f"seqnetquake benchmark collect{keep} && dvc repro benchmark")
        return
    started = time.perf_counter()
    for cmd in removes:
        _run(cmd, check=False)  # nothing to remove the first time
    for cmd in cmds:
        _run(cmd)
    collect(cfg, only=only)
    _run(["dvc", "repro", "benchmark"])
    print(f"sweep: {(time.perf_counter() - started) / 60:.1f} min in all")


# --------------------------------------------------------------------------- collect
def experiment_refs(names: Sequence[str]) -> dict[str, str]:
    """{name: newest git ref} of the named DVC experiments (refs/exps/.../<name>)."""
    out = subprocess.run(
        ["git", "for-each-ref", "--sort=committerdate", "--format=%(refname)", "refs/exps"],
        capture_output=True, text=True, check=True).stdout.split()
    refs = {}
    for ref in out:  # oldest first, so the newest run of a name wins
        name = ref.rsplit("/", 1)[-1]
        if name in names:
            refs[name] = ref
    return refs


def read_at(ref: str, path: str) -> str | None:
    done = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def copy_windows(ref: str, dest: Path) -> dict[str, str]:
    """An experiment's test-window tables into ``dest``: {file name: md5}. The sweep file
    records the md5s, so it pins the tables as the benchmark stage's one sweep dependency."""
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{ref}:{WINDOWS}"],
                           capture_output=True, text=True).stdout.split()
    tables = {}
    for name in names:
        if name.startswith("windows_") and name.endswith("_test.parquet"):
            data = subprocess.run(["git", "show", f"{ref}:{WINDOWS}/{name}"],
                                  capture_output=True, check=True).stdout
            dest.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(data)
            tables[name] = hashlib.md5(data).hexdigest()
    return tables


def stage_seconds(cfg: Config, exp_name: str) -> dict[str, float]:
    """Seconds per stage of one experiment, from the MLflow runs its stages logged."""
    import mlflow  # deferred: heavy

    tracking.configure(cfg)
    runs = mlflow.search_runs(filter_string=f"tags.dvc_exp_name = '{exp_name}'",
                              search_all_experiments=True, output_format="list")
    seconds: dict[str, float] = {}
    for r in runs:
        if r.info.end_time and r.info.start_time:
            stage = r.data.tags.get("stage", "?")
            seconds[stage] = seconds.get(stage, 0.0) + (r.info.end_time - r.info.start_time) / 1e3
    return seconds


def collect(cfg: Config, out: Path = SWEEP_FILE, log_mlflow: bool = True,
            only: Sequence[str] | None = None) -> dict[str, Any]:
    """Each experiment's benchmark run -> ``reports/benchmark_sweep.json`` and its test-window
    tables -> ``reports/benchmark_sweep/<name>/`` (what the paired comparisons read), plus
    MLflow runs. With ``only``, just those experiments are read; every other variant keeps its
    entry (its own ``ref``) and tables from the sweep file already there."""
    names = list(chosen(cfg, only))
    refs = experiment_refs(names)
    kept = kept_variants(out, set(variants(cfg)) - set(names))
    sweep: dict[str, Any] = {"variants": {}, "missing": sorted(
        set(variants(cfg)) - set(refs) - set(kept))}
    with atomic_path(sweep_windows_dir(out)) as windows:
        windows.mkdir()
        for name, entry in kept.items():
            if (sweep_windows_dir(out) / name).is_dir():
                shutil.copytree(sweep_windows_dir(out) / name, windows / name)
            sweep["variants"][name] = entry
        for name, ref in refs.items():
            text = read_at(ref, DETAILS)
            if text is None:
                sweep["missing"].append(name)
                continue
            details = json.loads(text)
            overrides = variants(cfg)[name]
            run = details["run"]
            # details written before runs recorded their channels: the variant's own override
            run.setdefault("channels",
                           list(overrides.get("windows.features", cfg.windows.features)))
            sweep["variants"][name] = {"ref": ref, "overrides": overrides, "run": run,
                                       "window_tables": copy_windows(ref, windows / name),
                                       "seconds": stage_seconds(cfg, name) if log_mlflow else {}}
        write_json(sweep, out)
    print_timings(sweep)
    if log_mlflow:
        log_sweep(cfg, sweep)
    return sweep


def kept_variants(path: Path, names: set[str]) -> dict[str, Any]:
    """The named variants' entries in the sweep file at ``path`` (none when it is absent)."""
    if not names or not Path(path).exists():
        return {}
    variants_there = json.loads(Path(path).read_text()).get("variants", {})
    return {name: variants_there[name] for name in sorted(names) if name in variants_there}


def print_timings(sweep: dict[str, Any]) -> None:
    """Where the time went: seconds per stage and variant (MLflow stage runs)."""
    total = 0.0
    for name, v in sweep["variants"].items():
        seconds = v.get("seconds", {})
        total += sum(seconds.values())
        parts = ", ".join(f"{k} {s / 60:.1f}" for k, s in sorted(
            seconds.items(), key=lambda kv: -kv[1]))
        print(f"{name}: {sum(seconds.values()) / 60:.1f} min ({parts or 'no MLflow runs'})")
    print(f"all variants: {total / 60:.1f} min of stage time")
    if sweep["missing"]:
        print(f"missing experiments: {', '.join(sweep['missing'])}")


def log_sweep(cfg: Config, sweep: dict[str, Any]) -> None:
    """One parent run, a nested run per variant (tags data_kind, amplitude_scale, controls)."""
    import mlflow  # deferred: heavy

    tracking.configure(cfg)
    with mlflow.start_run(run_name="benchmark-sweep"):
        mlflow.set_tags({**tracking.base_tags(cfg, "benchmark-sweep"), "controls": "sweep",
                         "amplitude_scale": ",".join(scale_key(s) for s in
                                                     cfg.benchmark.amplitude_scales)})
        for name, v in sweep["variants"].items():
            run = v["run"]
            with mlflow.start_run(run_name=name, nested=True):
                mlflow.set_tags({"data_kind": cfg.data_kind, "dvc_exp_name": name,
                                 "amplitude_scale": scale_key(run["amplitude_scale"]),
                                 "controls": run["controls"], "stage": "benchmark-variant"})
                mlflow.log_params({k: str(val) for k, val in v["overrides"].items()})
                mlflow.log_metrics(run_metrics(run) | {
                    f"seconds.{k}": s for k, s in v.get("seconds", {}).items()})
