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


def main() -> None:  # pragma: no cover - console entry point alias
    sys.exit(app())
