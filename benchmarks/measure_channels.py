"""Raw vs residual window channels on dataset 07 (TS1 = its test split): TS1 MCC with
event-bootstrap intervals for SeqNetQuake, a random forest and the classical detector.

Not a test: prints figures. Works on copies of the pipeline's outputs (tracks, catalogue,
injection truth) so nothing of the pipeline is touched. ``--scale`` rescales the injected
perturbation along the truth (x0 removes it; truth deltas are matched to the nearest track
sample within 1.6 s) before the background is computed, as the issue's table did.

    nice .venv/bin/python benchmarks/measure_channels.py --dir /tmp/w10 --scale 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from seqnetquake import background as bg
from seqnetquake.channels import channels_from_reference, pass_clock
from seqnetquake.config import load_config
from seqnetquake.contracts import BACKGROUND_INPUT_COLUMNS
from seqnetquake.labels import events_from_catalog
from seqnetquake.metrics import event_bootstrap, format_ci
from seqnetquake.windowcheck import CHANNELS, RESIDUAL_CHANNELS
from seqnetquake.windows import build_windows
from seqnetquake.windowset import WindowSet

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"raw": ["ne_cm3", "te_k"], "resid": ["ne_resid", "te_resid"], "z": ["ne_z", "te_z"],
            "detr": ["ne_detr", "te_detr"]}
RF = {"n_estimators": 200, "min_samples_leaf": 5, "max_features": 6}
# SeqNetQuake with small, untuned, non-degenerate settings (the pipeline's tuned ones may be
# tuned on raw channels, where nothing is learnable: --sqn FILE uses those instead)
SQN_SMALL = {"n_sub": 2, "padding": "same", "cnn_layers": 2, "cnn_filters": 4, "cnn_kernel": 3,
             "cnn_activation": "relu", "lstm_layers": 1, "lstm_units": 32, "fc_layers": 2,
             "fc_units": 32, "fc_activation": "relu", "dropout": 0.25, "batch_size": 64}


def rescale(tracks: pd.DataFrame, truth: pd.DataFrame, scale: float) -> pd.DataFrame:
    """Injected relative changes x ``scale`` (ne/te divided by 1 + d, times 1 + scale d)."""
    if scale == 1.0:
        return tracks
    tr = pd.DataFrame({"time": tracks["time"], "row": np.arange(len(tracks))})
    tu = truth[["time", "delta_ne_rel", "delta_te_rel"]].sort_values("time")
    m = pd.merge_asof(tr, tu, on="time", direction="nearest",
                      tolerance=pd.Timedelta(seconds=1.6))
    dne = m["delta_ne_rel"].fillna(0.0).to_numpy()
    dte = m["delta_te_rel"].fillna(0.0).to_numpy()
    out = tracks.copy()
    out["ne_cm3"] = tracks["ne_cm3"] / (1 + dne) * np.maximum(1 + scale * dne, 0.05)
    out["te_k"] = tracks["te_k"] / (1 + dte) * np.maximum(1 + scale * dte, 0.05)
    return out


def add_variability(tracks: pd.DataFrame, cfg) -> pd.DataFrame:
    """simulate.variability applied after the fact to tracks simulated without it (the
    factors multiply the quiet background; Ne's commute with the storm/precursor factors,
    Te's are applied to the storm-heated Te too: a few per cent of a few hundred K)."""
    from seqnetquake.geo import to_ns
    from seqnetquake.simulate import ionosphere, variability

    t = to_ns(tracks["time"])
    lat, lon = tracks["lat"].to_numpy(), tracks["lon"].to_numpy()
    w_day = ionosphere.day_weight(ionosphere.cos_solar_zenith(t, lat, lon))
    f_ne, f_te = variability.factors(cfg.simulate.variability, cfg.simulate.seed, 0, t, lat,
                                     lon, tracks["half_orbit_id"].to_numpy(), w_day)
    return tracks.assign(ne_cm3=tracks["ne_cm3"] * f_ne, te_k=tracks["te_k"] * f_te)


def windows_all(work: Path, scale: float, cfg, vary: bool = False
                ) -> tuple[WindowSet, WindowSet, dict]:
    """Dataset 07 windows with every channel; the same windows for every variant."""
    cols = sorted(set(BACKGROUND_INPUT_COLUMNS) | {"segment"})
    tracks = pd.read_parquet(work / "tracks_cses.parquet", columns=cols)
    truth = pd.read_parquet(work / "truth.parquet")
    tracks = rescale(tracks, truth, scale)
    if vary:
        tracks = add_variability(tracks, cfg)
    clock = time.perf_counter()
    ref = bg.background_frame(tracks, cfg.background)
    seconds = time.perf_counter() - clock
    stats = bg.summary(ref, cfg.background, seconds)
    chans = channels_from_reference(
        list(RESIDUAL_CHANNELS), tracks["ne_cm3"].to_numpy(), tracks["te_k"].to_numpy(),
        {c: ref[c].to_numpy() for c in ("ne_ref", "ne_mad", "te_ref", "te_mad")},
        cfg.background, pass_clock(tracks))
    tracks = tracks.assign(**chans)
    d = cfg.datasets["07"]
    events = events_from_catalog(pd.read_parquet(work / "catalog_cses.parquet"), d.radius)
    wcfg = cfg.windows.model_copy(update={"features": list(CHANNELS)})
    built = build_windows(tracks, events, d, wcfg, cfg.tracks.cadence_s)
    return built.train, built.test, stats


def pick(ws: WindowSet, names: list[str]) -> WindowSet:
    idx = [CHANNELS.index(n) for n in names]
    return WindowSet(X=ws.X[:, :, idx], y=ws.y, event_id=ws.event_id, t0=ws.t0, lat=ws.lat,
                     lon=ws.lon, half_orbit_id=ws.half_orbit_id, channels=tuple(names))


def recall_at_fa(y: np.ndarray, p1: np.ndarray, fa: float = 0.10) -> float:
    """Recall of class-1 windows at the class-0 false-alarm rate ``fa`` (score p1)."""
    if not (y == 0).any() or not (y == 1).any():
        return float("nan")
    thr = np.quantile(p1[y == 0], 1 - fa)
    return float((p1[y == 1] > thr).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, default=Path("/tmp/w10"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--models", nargs="+", default=["rf", "seqnetquake", "classical"])
    ap.add_argument("--seed", type=int, default=50)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--variability", action="store_true",
                    help="apply simulate.variability to the (older) simulated tracks")
    ap.add_argument("--sqn", type=Path, default=None, help="SeqNetQuake params JSON")
    args = ap.parse_args()
    cfg = load_config(REPO / "params.yaml")
    from seqnetquake.models import get_model

    train_all, test_all, stats = windows_all(args.dir, args.scale, cfg, args.variability)
    print(f"background: {stats}")
    print(f"x{args.scale}: train {np.bincount(train_all.y, minlength=3)}, "
          f"test {np.bincount(test_all.y, minlength=3)}")
    sqn = json.loads(args.sqn.read_text()) if args.sqn else SQN_SMALL
    results = []
    for variant in args.variants:
        names = VARIANTS[variant]
        train, test = pick(train_all, names), pick(test_all, names)
        fit, val = train.chronological_split(cfg.tuning.validation_fraction)
        for model in args.models:
            params = {"rf": RF, "seqnetquake": sqn,
                      "classical": {"k": 3.0, "m": 4, "k_storm": 2.0}}[model]
            if model == "classical" and variant == "raw":
                continue
            clf = get_model(model).build(params, train.T, train.F)
            clock = time.perf_counter()
            clf.fit(fit, val, max_epochs=cfg.train.max_epochs, patience=cfg.train.patience,
                    seed=args.seed)
            proba = clf.predict_proba(test.X)
            pred = proba.argmax(axis=1)
            ci = event_bootstrap(test.y, pred, test.event_id, seed=0)
            rec = recall_at_fa(test.y, proba[:, 1])
            row = {"scale": args.scale, "variability": args.variability, "variant": variant,
                   "model": model, **ci,
                   "recall_at_10fa": rec, "seconds": round(time.perf_counter() - clock, 1)}
            results.append(row)
            tag = f"x{args.scale}{' var' if args.variability else ''}"
            print(f"{tag} {variant:6s} {model:12s} TS1 MCC "
                  f"{format_ci(ci['mcc'], ci['mcc_ci_low'], ci['mcc_ci_high'])}  "
                  f"recall@10%FA {rec:.2f}  ({row['seconds']} s)", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
