"""The ``seqnetquake`` command: one subcommand per DVC stage, plus user actions.

Each command builds the typed config once and hands it, with the paths dvc.yaml gives, to one
function in the module that does the work. Heavy imports (TensorFlow, MLflow, GX) happen
inside the commands so that ``--help`` and ``check`` stay fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from seqnetquake.config import SATELLITES, Config, ConfigError, load_config
from seqnetquake.errors import InputError, ValidationFailed

app = typer.Typer(
    help="SeqNetQuake: pre-earthquake ionospheric perturbations from DEMETER/CSES, reproducibly.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="params.yaml to read.")]
DEFAULT_PARAMS = Path("params.yaml")


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
    """Turn expected failures (bad input, failed validation) into one clear line, exit 1."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (InputError, ValidationFailed, ConfigError) as exc:
            _fail(str(exc))

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
    from seqnetquake.check import check_paths

    problems = check_paths(paths)
    for line in problems:
        typer.echo(line)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{len(paths)} file(s) OK", err=True)


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
        help="best_params.json, trials.pkl, search.json; default models/tuning/<model>.")] = None,
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


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    force: Annotated[bool, typer.Option(help="Promote even if the gate metric is worse.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --force).")] = None,
    params: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """Move alias champion to the challenger if its gate metric is at least the champion's."""
    import mlflow

    from seqnetquake import registry
    from seqnetquake.tracking import tracking_uri

    cfg = _config(params)
    mlflow.set_tracking_uri(tracking_uri(cfg))
    try:
        typer.echo(registry.promote(name, cfg.registry.gate_metric, force=force, reason=reason))
    except registry.RegistryError as exc:
        _fail(str(exc))


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    params: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """Give alias champion back to the previous champion."""
    import mlflow

    from seqnetquake import registry
    from seqnetquake.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri(_config(params)))
    try:
        typer.echo(registry.rollback(name))
    except registry.RegistryError as exc:
        _fail(str(exc))


@app.command()
def predict(
    model_uri: Annotated[str, typer.Argument(help="e.g. models:/seqnetquake-cses@champion")],
    npz: Annotated[Path, typer.Argument(help="Windows npz (X raw N x T x F; y optional).")],
    out: Annotated[Path | None, typer.Option(help="CSV of per-window probabilities.")] = None,
    params: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """Score a windows npz with a registered model; print a per-class table."""
    import mlflow
    import numpy as np

    from seqnetquake import registry
    from seqnetquake.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri(_config(params)))
    try:
        with np.load(npz, allow_pickle=False) as data:
            X, y = data["X"], data.get("y")
    except (OSError, KeyError, ValueError) as exc:
        _fail(f"{npz}: cannot read windows: {exc}")
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


def main() -> None:  # pragma: no cover - console entry point alias
    sys.exit(app())
