"""The windows stage: labelled track samples -> windows of T samples -> chronological split.

Rules (DESIGN §3; labels in ``labels.py``):
- Only the dataset's half-orbit (day or night) and only usable samples (quality 0, finite
  position, Kp and features) are labelled; any other sample breaks a run.
- A run is a stretch of consecutive samples with one label, one labelling event, one
  half-orbit and one segment; it is cut into non-overlapping windows of T samples from its
  start (a remainder shorter than T is left out). Cutting where the event changes keeps every
  window to one event, which the earthquake-level metrics group by.
- A window whose span exceeds (T - 1) x cadence by more than ``gap_tolerance_s`` straddles a
  gap and is dropped.
- Split (``windowset.split_by_events``, the one cut of the project): whole events on each
  side, test after train, at least ``split_gap_days`` between the end of the last training
  window and the first test window; the test share of the kept windows is kept as close to
  ``test_fraction`` as whole events allow. Windows in the gap, and test-time windows of events
  that started before the cut, are dropped and counted per class in the manifest (``split``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from tqdm import tqdm

from seqnetquake import channels, tracking, validate
from seqnetquake.config import Config, ConfigError, DatasetConfig, WindowsConfig
from seqnetquake.contracts import (
    ARTIFICIAL_ID_PREFIX,
    MANIFEST_FILE,
    NS_PER_S,
    TEST_WINDOWS_FILE,
    TRAIN_WINDOWS_FILE,
    WINDOWING_COLUMNS,
)
from seqnetquake.errors import InputError
from seqnetquake.fileio import atomic_path, write_json
from seqnetquake.geo import to_ns
from seqnetquake.labels import (
    LABEL_UNUSED,
    NO_EVENT,
    Events,
    SampleLabels,
    events_from_catalog,
    label_samples,
)
from seqnetquake.windowcheck import needs_background
from seqnetquake.windowset import (
    Split,
    WindowSet,
    load_dataset,
    split_by_events,
)

SPLITS = ("train", "test")
SPLIT_FILES = {"train": TRAIN_WINDOWS_FILE, "test": TEST_WINDOWS_FILE}


@dataclass(frozen=True)
class BuiltWindows:
    train: WindowSet
    test: WindowSet
    stats: dict[str, int]
    split: Split | None = None  # None: no windows to split


# --------------------------------------------------------------------------- pure functions
def window_starts(
    label: np.ndarray,
    event: np.ndarray,
    half_orbit_id: np.ndarray,
    segment: np.ndarray,
    T: int,
) -> np.ndarray:
    """Start rows of the non-overlapping T-sample windows of every usable run (rules above)."""
    n = len(label)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.ones(n, dtype=bool)
    change[1:] = (
        (label[1:] != label[:-1])
        | (event[1:] != event[:-1])
        | (half_orbit_id[1:] != half_orbit_id[:-1])
        | (segment[1:] != segment[:-1])
    )
    run_start = np.flatnonzero(change)
    run_length = np.diff(np.append(run_start, n))
    n_windows = np.where(label[run_start] >= 0, run_length // T, 0)
    offsets = np.cumsum(n_windows) - n_windows
    k = np.arange(int(n_windows.sum())) - np.repeat(offsets, n_windows)
    return np.repeat(run_start, n_windows) + k * T


def span_ok(
    time_ns: np.ndarray, starts: np.ndarray, T: int, cadence_s: float, gap_tolerance_s: float
) -> np.ndarray:
    """True for windows that do not straddle a gap: span <= (T-1) cadence + tolerance."""
    span_ns = time_ns[starts + T - 1] - time_ns[starts]
    return span_ns <= round(((T - 1) * cadence_s + gap_tolerance_s) * NS_PER_S)


def build_windows(
    tracks: pd.DataFrame,
    events: Events,
    dataset: DatasetConfig,
    windows: WindowsConfig,
    cadence_s: float,
    progress: Callable[[int], None] | None = None,
) -> BuiltWindows:
    """Label one satellite's tracks and cut the dataset's windows (module docstring rules).

    ``tracks`` follows docs/architecture.md; rows of the other half-orbit are ignored.
    ``progress`` is passed to :func:`labels.nearest_events` (candidate pairs done per chunk).
    """
    T, features = dataset.T, list(windows.features)
    missing = [c for c in (*WINDOWING_COLUMNS, *features) if c not in tracks.columns]
    if missing:
        raise InputError("tracks", ",".join(missing), "missing column")
    # Column by column: a copy of the whole frame cost a fifth of the stage at 5 M rows.
    rows = (tracks["half_orbit"] == dataset.half_orbit).to_numpy(dtype=bool)
    rows = None if rows.all() else np.flatnonzero(rows)
    time_ns = to_ns(tracks["time"])
    time_ns = time_ns if rows is None else time_ns[rows]
    if np.any(np.diff(time_ns) < 0):  # the contract says sorted; tolerate, don't trust
        order = np.argsort(time_ns, kind="stable")
        rows = order if rows is None else rows[order]
        time_ns = time_ns[order]

    def column(name: str, dtype: Any = np.float64) -> np.ndarray:
        values = tracks[name].to_numpy(dtype=dtype)
        return values if rows is None else values[rows]

    lat, lon, kp = column("lat"), column("lon"), column("kp")
    feature_values = [column(name) for name in features]
    usable = (column("quality", np.int64) == 0) & np.isfinite(lat) & np.isfinite(lon)
    usable &= np.isfinite(kp)
    for values in feature_values:
        usable &= np.isfinite(values)

    sample = SampleLabels(
        label=np.full(len(time_ns), LABEL_UNUSED, dtype=np.int8),
        event=np.full(len(time_ns), NO_EVENT, dtype=np.int64),
    )
    labelled = label_samples(
        time_ns[usable], lat[usable], lon[usable], kp[usable], events,
        windows.lead_days, windows.kp_threshold, progress=progress,
    )
    sample.label[usable] = labelled.label
    sample.event[usable] = labelled.event

    half_orbit_id = column("half_orbit_id", np.int64)
    starts = window_starts(sample.label, sample.event, half_orbit_id,
                           column("segment", np.int64), T)
    ok = span_ok(time_ns, starts, T, cadence_s, windows.gap_tolerance_s)
    n_gap = int((~ok).sum())
    starts = starts[ok]

    rows_of = starts[:, None] + np.arange(T)
    X = np.empty((len(starts), T, len(features)), dtype=np.float32)
    for f, values in enumerate(feature_values):
        X[:, :, f] = values[rows_of]
    ids = np.append(events.event_id, "")  # NO_EVENT (-1) picks the trailing ""
    all_windows = WindowSet(
        X=X,
        y=sample.label[starts].astype(np.int64),
        event_id=ids[sample.event[starts]],
        t0=time_ns[starts].view("datetime64[ns]"),
        lat=lat[starts],
        lon=lon[starts],
        half_orbit_id=half_orbit_id[starts],
        channels=tuple(features),
    )
    split = None
    if len(all_windows):
        # Infeasible (too few events or days for the gap): every window stays in train and the
        # stage refuses to write (run_stage); the tests of the labelling still see them all.
        split = split_by_events(all_windows, windows.test_fraction,
                                gap_days=windows.split_gap_days, window_s=(T - 1) * cadence_s)
        train, test = split.earlier, split.later
    else:
        train = test = all_windows
    stats = {
        "samples_in_half_orbit": len(time_ns),
        "samples_unusable": int((~usable).sum()),
        **{f"samples_{k}": v for k, v in labelled.counts().items()},
        "windows_dropped_gap": n_gap,
    }
    return BuiltWindows(train=train, test=test, stats=stats, split=split)


def counts(built: BuiltWindows) -> dict[str, Any]:
    """Windows per class and split, and events per split (the manifest's numbers)."""
    out: dict[str, Any] = {}
    for split in SPLITS:
        ws: WindowSet = getattr(built, split)
        per_class = np.bincount(ws.y, minlength=3) if len(ws) else np.zeros(3, dtype=np.int64)
        ids = np.unique(ws.event_id[ws.event_id != ""])
        artificial = int(np.char.startswith(ids.astype(str), ARTIFICIAL_ID_PREFIX).sum())
        out[split] = {
            **{str(c): int(per_class[c]) for c in range(3)},
            "total": len(ws),
            "events_real": len(ids) - artificial,
            "events_artificial": artificial,
        }
    return out


# --------------------------------------------------------------------------- I/O and the stage
def save_windows(ws: WindowSet, path: Path) -> None:
    """Write one split as npz (no pickles: strings as fixed-width unicode)."""
    arrays = {f.name: getattr(ws, f.name) for f in fields(WindowSet)}
    arrays["channels"] = np.asarray(ws.channels, dtype=str)
    arrays["event_id"] = np.asarray(arrays["event_id"], dtype=str)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _md5(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


def _read_tracks(path: Path, features: list[str], half_orbit: str) -> pd.DataFrame:
    try:
        names = set(pq.read_schema(path).names)
    except (OSError, ValueError) as exc:
        raise InputError(path, "file", f"not a readable parquet: {exc}") from exc
    columns = [*WINDOWING_COLUMNS, *features]
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(path, ",".join(missing), "missing column")
    return pd.read_parquet(path, columns=columns, filters=[("half_orbit", "==", half_orbit)])


def run_stage(
    cfg: Config, dataset: str, tracks_path: Path, catalog_path: Path, out_dir: Path,
    background: Path | None = None,
) -> None:
    """Build, validate and write ``out_dir/{train,test}.npz`` and ``manifest.json``.

    The manifest goes first out and last in, so a set of files with a manifest is complete.
    """
    if dataset not in cfg.datasets:
        raise ConfigError(f"params: datasets: no dataset '{dataset}' "
                          f"(have {', '.join(sorted(cfg.datasets))})")
    dcfg = cfg.datasets[dataset]
    tracks_path, catalog_path, out_dir = Path(tracks_path), Path(catalog_path), Path(out_dir)
    clock = time.perf_counter()
    features = list(cfg.windows.features)
    tracks = _read_tracks(tracks_path, channels.track_columns(features), dcfg.half_orbit)
    tracks = channels.add_channels(tracks, features, background, cfg.background)
    events = events_from_catalog(pd.read_parquet(catalog_path), dcfg.radius, str(catalog_path))
    print(f"windows {dataset}: {len(tracks)} {dcfg.half_orbit} samples, {len(events)} events "
          f"({time.perf_counter() - clock:.1f} s to read)")
    with tqdm(desc=f"windows {dataset}: candidate pairs", unit="pair", unit_scale=True,
              disable=None) as bar:
        built = build_windows(tracks, events, dcfg, cfg.windows, cfg.tracks.cadence_s,
                              progress=bar.update)
    elapsed = time.perf_counter() - clock
    table = counts(built)
    print(f"windows {dataset}: train {table['train']}, test {table['test']}, "
          f"{built.stats['windows_dropped_gap']} gap windows dropped ({elapsed:.1f} s)")
    if built.split is None or not built.split.feasible:
        reason = built.split.infeasible_reason() if built.split else "no windows"
        raise ConfigError(f"params: windows.split_gap_days/test_fraction: dataset {dataset}: "
                          f"{reason}")
    cut = built.split.summary()
    print(f"windows {dataset}: cut {cut['cut']}, gap {cut['gap_days']:g} days, test share "
          f"{cut['achieved_fraction']} (target {cut['target_fraction']}); dropped in the "
          f"gap {cut['dropped_in_gap']}, straddling {cut['dropped_straddling']}")
    validate.validate_windows(built.train, built.test, cfg, dataset)

    manifest = {
        "dataset": dataset,
        "data_kind": cfg.data_kind,
        "config": {**dcfg.model_dump(), **cfg.windows.model_dump(),
                   "cadence_s": cfg.tracks.cadence_s},
        "channels": list(cfg.windows.features),
        "windows": table,
        "split": cut,
        "samples": built.stats,
        "t0": {split: [str(getattr(built, split).t0.min()), str(getattr(built, split).t0.max())]
               if len(getattr(built, split)) else [] for split in SPLITS},
        "inputs": {"tracks": {"path": str(tracks_path), "md5": _md5(tracks_path)},
                   **({"background": {"path": str(background), "md5": _md5(Path(background))}}
                      if needs_background(features) else {}),
                   "catalog": {"path": str(catalog_path), "md5": _md5(catalog_path)}},
    }
    params = {"dataset": dataset, "windows": cfg.windows.model_dump(), **dcfg.model_dump()}
    with tracking.stage_run(cfg, "windows", params=params, run_name=f"windows-{dataset}"):
        manifest_path = out_dir / MANIFEST_FILE
        manifest_path.unlink(missing_ok=True)
        for split in SPLITS:
            save_windows(getattr(built, split), out_dir / SPLIT_FILES[split])
        write_json(manifest, manifest_path)
        tracking.log_counts({"windows": table, "samples": built.stats,
                             "split": {k: v for k, v in cut.items() if isinstance(v, dict)}})


# --------------------------------------------------------------------------- user actions
def export_authors_npz(dataset_dir: Path, out_path: Path) -> dict[str, int]:
    """Write one dataset in the authors' ``input/<name>_input.npz`` layout (PAPER_NOTES).

    ``test_EQ_LABELS`` is 1 for windows of a real event and 0 for an artificial one, class-2
    windows included (they take their labelling event's kind); ``test_EQ_NUM`` numbers the
    events (sorted ids). Windows without an event (none are produced by this labelling) would
    get EQ_LABELS 0 and EQ_NUM -1.
    """
    train, test = load_dataset(dataset_dir)
    ids = test.event_id.astype(str)
    has_event = ids != ""
    eq_labels = (has_event & ~np.char.startswith(ids, ARTIFICIAL_ID_PREFIX)).astype(np.int64)
    unique_ids, number = np.unique(ids, return_inverse=True)
    if len(unique_ids) and unique_ids[0] == "":
        number = number - 1  # "" sorts first: it becomes -1, real ids start at 0
    eq_num = np.where(has_event, number, -1).astype(np.int64)
    arrays = {
        "train_X": train.X.astype(np.float32),
        "train_y": train.y.astype(np.int64)[:, None],
        "test_X": test.X.astype(np.float32),
        "test_y": test.y.astype(np.int64)[:, None],
        "test_EQ_LABELS": eq_labels[:, None],
        "test_EQ_NUM": eq_num[:, None],
    }
    with atomic_path(out_path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return {"train": len(train), "test": len(test), "test_events": int(len(np.unique(eq_num)))}


def windows_table(processed_dir: Path, datasets: dict[str, DatasetConfig]) -> str:
    """Markdown table of windows per class and split for every dataset with a manifest."""
    head = ("| dataset | satellite | half-orbit | T | radius | train 0 | train 1 | train 2 "
            "| test 0 | test 1 | test 2 | total |")
    lines = [head, "|" + "---|" * 12]
    for name, d in sorted(datasets.items()):
        path = Path(processed_dir) / name / MANIFEST_FILE
        if not path.exists():
            lines.append(f"| {name} | {d.satellite} | {d.half_orbit} | {d.T} | {d.radius} |"
                         + " - |" * 7)
            continue
        w = json.loads(path.read_text())["windows"]
        cells = [w[s][c] for s in SPLITS for c in ("0", "1", "2")]
        total = w["train"]["total"] + w["test"]["total"]
        lines.append(f"| {name} | {d.satellite} | {d.half_orbit} | {d.T} | {d.radius} | "
                     + " | ".join(str(v) for v in [*cells, total]) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- scoring new passes
@dataclass(frozen=True)
class UnlabelledWindows:
    """Windows of new passes for scoring: X raw (N, T, F) and where each one lies."""

    X: np.ndarray
    rows: np.ndarray  # (N, T) row indices into the track table (first column: window start)


def unlabelled_windows(
    tracks: pd.DataFrame,
    T: int,
    features: list[str],
    cadence_s: float,
    gap_tolerance_s: float,
    half_orbit: str | None = None,
) -> UnlabelledWindows:
    """Cut a track table into the windows a model would see, without labels.

    The same rules as :func:`build_windows` with every usable sample in one run per half-orbit
    and segment: quality 0 and finite values only, non-overlapping windows of T from a run's
    start, windows straddling a gap dropped; ``half_orbit`` ("day"/"night") keeps one side.
    """
    missing = [c for c in ("time", "half_orbit", "half_orbit_id", "segment", "quality",
                           *features) if c not in tracks.columns]
    if missing:
        raise InputError("tracks", ",".join(missing), "missing column")
    usable = (tracks["quality"].to_numpy() == 0)
    if half_orbit is not None:
        usable &= (tracks["half_orbit"] == half_orbit).to_numpy(dtype=bool)
    values = [tracks[name].to_numpy(dtype=np.float64) for name in features]
    for column in values:
        usable &= np.isfinite(column)
    label = np.where(usable, 0, LABEL_UNUSED).astype(np.int8)
    event = np.zeros(len(tracks), dtype=np.int64)
    starts = window_starts(label, event, tracks["half_orbit_id"].to_numpy(np.int64),
                           tracks["segment"].to_numpy(np.int64), T)
    starts = starts[span_ok(to_ns(tracks["time"]), starts, T, cadence_s, gap_tolerance_s)]
    rows = starts[:, None] + np.arange(T)
    X = np.empty((len(starts), T, len(features)), dtype=np.float32)
    for f, column in enumerate(values):
        X[:, :, f] = column[rows]
    return UnlabelledWindows(X=X, rows=rows)
