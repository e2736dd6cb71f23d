"""Where the project's files live: one layout, relative to the repository root.

:class:`Layout` names every path a stage reads or writes by default; dvc.yaml (and
study/dvc.yaml) spell the same paths on their command lines, because DVC needs them literally.
``tests/test_paths.py`` checks that every path the layout gives for the default params is a
dep or an output there, so the two cannot drift. :data:`LAYOUT` (root ``.``) gives the
relative paths dvc.yaml uses, since DVC runs every stage from the repository root (the CLI's
defaults); ``Layout(root)`` gives the same paths under another project folder (``score``).

:func:`repo_root` and :func:`find_project_root` find that root.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROJECT_MARKERS = ("params.yaml", "dvc.yaml")


def repo_root() -> Path:
    """The repository root: DVC_ROOT under DVC, else git's top level, else the current dir."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
        )
        return Path(out.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return Path.cwd().resolve()


def find_project_root(start: str | Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the cwd) holding params.yaml and
    dvc.yaml; None outside a project."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).is_file() for marker in PROJECT_MARKERS):
            return folder
    return None


@dataclass(frozen=True)
class Layout:
    """The project's files under ``root`` (docs/architecture.md describes each table)."""

    root: Path = Path()

    # --- inputs shipped with the repository ----------------------------------------------------
    @property
    def catalogs_dir(self) -> Path:
        """The source catalogue CSVs (catalog stage)."""
        return self.root / "data" / "external" / "catalogs"

    @property
    def satellite_dir(self) -> Path:
        """Orbit inputs of the simulator (the CSES TLE)."""
        return self.root / "data" / "external" / "satellite"

    @property
    def expectations_dir(self) -> Path:
        """The Great Expectations suites (``validation.expectations_dir``'s default)."""
        return self.root / "expectations"

    # --- data/raw: one folder of raw files per satellite (simulate stage) ----------------------
    def raw_dir(self, satellite: str) -> Path:
        return self.root / "data" / "raw" / satellite

    # --- data/interim: one table per satellite -------------------------------------------------
    @property
    def interim_dir(self) -> Path:
        return self.root / "data" / "interim"

    def catalog(self, satellite: str) -> Path:
        return self.interim_dir / f"catalog_{satellite}.parquet"

    @property
    def kp(self) -> Path:
        return self.interim_dir / "kp.parquet"

    def iri_cache(self, satellite: str) -> Path:
        """The simulator's cached PyIRI month grids."""
        return self.interim_dir / f"iri_{satellite}"

    def tracks(self, satellite: str) -> Path:
        return self.interim_dir / f"tracks_{satellite}.parquet"

    def background(self, satellite: str) -> Path:
        return self.interim_dir / f"background_{satellite}.parquet"

    # --- data/processed: one folder of windows per dataset -------------------------------------
    @property
    def processed_dir(self) -> Path:
        return self.root / "data" / "processed"

    def dataset_dir(self, dataset: str) -> Path:
        return self.processed_dir / dataset

    # --- models: one folder per trained stage --------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def base_dir(self) -> Path:
        return self.models_dir / "base"

    @property
    def transfer_dir(self) -> Path:
        return self.models_dir / "transfer"

    @property
    def direct_dir(self) -> Path:
        return self.models_dir / "direct"

    @property
    def baselines_dir(self) -> Path:
        return self.models_dir / "baselines"

    def baseline_dir(self, model: str) -> Path:
        return self.baselines_dir / model

    @property
    def tuning_dir(self) -> Path:
        return self.models_dir / "tuning"

    def tuning_model_dir(self, model: str) -> Path:
        """One model's search (best_params.json, trials.json)."""
        return self.tuning_dir / model

    @property
    def study_dir(self) -> Path:
        return self.models_dir / "study"

    def study_dataset_dir(self, dataset: str) -> Path:
        return self.study_dir / dataset

    # --- reports -------------------------------------------------------------------------------
    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def catalog_metrics(self) -> Path:
        return self.reports_dir / "catalog.json"

    def tracks_metrics(self, satellite: str) -> Path:
        return self.reports_dir / f"tracks_{satellite}.json"

    def background_metrics(self, satellite: str) -> Path:
        return self.reports_dir / f"background_{satellite}.json"

    @property
    def validation_summary(self) -> Path:
        return self.reports_dir / "validation.json"

    @property
    def data_docs_dir(self) -> Path:
        """Great Expectations' HTML Data Docs (git-ignored; not a DVC output)."""
        return self.reports_dir / "data_docs"

    @property
    def registry_summary(self) -> Path:
        return self.reports_dir / "registry.json"

    @property
    def benchmark_sweep(self) -> Path:
        return self.reports_dir / "benchmark_sweep.json"

    @property
    def study_ceilings(self) -> Path:
        return self.reports_dir / "study_ceilings.json"

    # --- not DVC paths: configuration, lock and stores -----------------------------------------
    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    @property
    def dvc_lock(self) -> Path:
        return self.root / "dvc.lock"

    @property
    def readme(self) -> Path:
        return self.root / "README.md"

    @property
    def mlflow_store(self) -> Path:
        """The default local MLflow store (sqlite), beside its ``mlartifacts``."""
        return self.root / "mlflow.db"

    @property
    def registry_lock(self) -> Path:
        """Serialises alias changes when the store is remote (registry.lock_path)."""
        return self.root / ".mlflow-registry.lock"


# The paths as dvc.yaml writes them: relative to the cwd, which DVC sets to the repository root.
LAYOUT = Layout()
