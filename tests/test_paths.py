"""The layout (seqnetquake.paths) and dvc.yaml name the same files: they cannot drift apart.

Every path the layout gives for the repository's params must be a dep or an output of a stage
of dvc.yaml or study/dvc.yaml as DVC itself resolves them (foreach, ${...}, wdir), or a folder
holding one; the data-docs folder, not an output on purpose, must be on a stage's command line.
A new layout member fails here until it is classified.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from seqnetquake.config import SATELLITES, load_config
from seqnetquake.paths import LAYOUT, Layout

REPO = Path(__file__).resolve().parents[1]
# Files of the project that are no DVC deps or outputs.
NOT_DVC = {"params", "dvc_lock", "readme", "mlflow_store", "registry_lock"}
# Named on a stage's command line but, on purpose, no output (dvc.yaml says why).
COMMAND_ONLY = {"data_docs_dir"}


def _members() -> dict[str, object]:
    return {name: member for name, member in inspect.getmembers(Layout)
            if not name.startswith("_") and (isinstance(member, property)
                                             or inspect.isfunction(member))}


def _arguments(cfg) -> dict[str, list[str]]:
    """What each layout method is called with for these params."""
    satellites = list(SATELLITES)
    return {
        "raw_dir": satellites, "catalog": satellites, "iri_cache": satellites,
        "tracks": satellites, "background": satellites, "tracks_metrics": satellites,
        "background_metrics": satellites,
        "dataset_dir": list(cfg.datasets),
        "baseline_dir": list(cfg.train.baselines),
        "tuning_model_dir": list(cfg.tuning.models),
        "study_dataset_dir": list(cfg.study.datasets),
    }


def layout_paths(layout: Layout, cfg) -> dict[str, list[Path]]:
    """Every DVC path the layout gives for ``cfg``, by member name."""
    arguments = _arguments(cfg)
    found: dict[str, list[Path]] = {}
    for name, member in _members().items():
        if name in NOT_DVC:
            continue
        if isinstance(member, property):
            found[name] = [getattr(layout, name)]
        else:
            assert name in arguments, f"Layout.{name}: say in _arguments what it is called with"
            found[name] = [getattr(layout, name)(arg) for arg in arguments[name]]
    return found


@pytest.fixture(scope="module")
def dvc_paths() -> tuple[set[str], set[str]]:
    """(deps and outputs of every stage, every word of every command), repository-relative."""
    from dvc.repo import Repo

    files, words = set(), set()
    with Repo(str(REPO)) as repo:
        for stage in repo.index.stages:
            for entry in (*stage.deps, *stage.outs):
                path = Path(entry.fs_path)
                if path.is_relative_to(REPO):
                    files.add(path.relative_to(REPO).as_posix())
            words |= set(str(stage.cmd).split())
    return files, words


def drift(layout: Layout, cfg, dvc: tuple[set[str], set[str]]) -> list[str]:
    """The layout's paths that dvc.yaml does not name."""
    files, words = dvc
    within = {p.as_posix() for f in files for p in Path(f).parents} | files
    return [f"{name}: {path.as_posix()}" for name, found in layout_paths(layout, cfg).items()
            for path in found
            if path.as_posix() not in (words if name in COMMAND_ONLY else within)]


def test_every_layout_path_is_in_dvc_yaml(dvc_paths):
    cfg = load_config(REPO / "params.yaml")
    assert drift(LAYOUT, cfg, dvc_paths) == [], "paths.Layout and dvc.yaml disagree"


def test_every_member_is_classified():
    members = set(_members())
    assert members >= NOT_DVC | COMMAND_ONLY
    assert set(layout_paths(LAYOUT, load_config(REPO / "params.yaml"))) == members - NOT_DVC


def test_the_check_catches_a_drift(dvc_paths):
    class Drifted(Layout):
        def tracks(self, satellite: str) -> Path:
            return self.interim_dir / f"track_{satellite}.parquet"

        @property
        def data_docs_dir(self) -> Path:
            return self.reports_dir / "docs"

    cfg = load_config(REPO / "params.yaml")
    assert drift(Drifted(), cfg, dvc_paths) == [
        "data_docs_dir: reports/docs", "tracks: data/interim/track_cses.parquet",
        "tracks: data/interim/track_demeter.parquet"]


def test_layout_is_relative_by_default_and_follows_a_root(tmp_path):
    assert LAYOUT.tracks("cses") == Path("data/interim/tracks_cses.parquet")
    assert LAYOUT.models_dir == Path("models") and not LAYOUT.kp.is_absolute()
    assert Layout(tmp_path).kp == tmp_path / "data" / "interim" / "kp.parquet"
    assert Layout(tmp_path).mlflow_store == tmp_path / "mlflow.db"
