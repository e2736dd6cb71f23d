"""How far the injected signal stands out of the background, per window, by channel.

For one dataset (default 07) and each residual channel (``ne_resid``, and ``ne_detr`` at every
``--detrend-km``), the window mean of the injected class-1 windows against the clean class-0
windows: separation in units of the clean scatter (d'), ROC AUC, and how much of the injected
log amplitude survives (slope). A detector of single windows cannot beat the Gaussian bound
recall = 1 - Phi(z_(1-FAR) - d'): at d' 0.6 about 0.25 at 10 % false alarms, and A50 at this
amplitude needs d' >= 1.28.

Not a test: prints figures. Reads the pipeline's outputs in place (tracks, background,
catalogue, injection truth) and writes nothing.

    nice .venv/bin/python benchmarks/measure_detectability.py --detrend-km 250 500 1000 2000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from seqnetquake import channels
from seqnetquake.benchmark.truth import read_truth, window_truth
from seqnetquake.config import load_config
from seqnetquake.labels import events_from_catalog
from seqnetquake.windows import build_windows

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, default=REPO, help="a workspace after `make demo`")
    ap.add_argument("--dataset", default="07")
    ap.add_argument("--detrend-km", type=float, nargs="+", default=[250, 500, 1000, 2000, 4000])
    args = ap.parse_args()
    root = args.repo
    cfg = load_config(root / "params.yaml")
    d = cfg.datasets[args.dataset]
    sat = d.satellite
    tracks = pd.read_parquet(root / f"data/interim/tracks_{sat}.parquet",
                             filters=[("half_orbit", "==", d.half_orbit)])
    background = root / f"data/interim/background_{sat}.parquet"
    events = events_from_catalog(pd.read_parquet(root / f"data/interim/catalog_{sat}.parquet"),
                                 d.radius, f"catalog_{sat}")
    truth = read_truth(root / cfg.tracks.raw_dirs[sat])
    cols = {"ne_resid": channels.add_channels(tracks, ["ne_resid"], background,
                                              cfg.background)["ne_resid"].to_numpy()}
    for km in args.detrend_km:
        bcfg = cfg.background.model_copy(update={"detrend_km": km})
        cols[f"ne_detr_{km:g}km"] = channels.add_channels(
            tracks, ["ne_detr"], background, bcfg)["ne_detr"].to_numpy()
    built = build_windows(tracks.assign(**cols), events, d,
                          cfg.windows.model_copy(update={"features": list(cols)}),
                          cfg.tracks.cadence_s)
    print(f"dataset {args.dataset} ({sat}, {d.half_orbit}), amplitude scale "
          f"{cfg.simulate.precursor.amplitude_scale:g}; window mean of each channel, injected "
          "class-1 vs clean class-0 windows")
    print("| split | channel | injected | clean | clean sd (dex) | injected - clean (dex) | d' | "
          "AUC | slope vs log10(1 + amplitude) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for split in ("train", "test"):
        ws = getattr(built, split)
        wt = window_truth(ws.t0, ws.half_orbit_id, ws.T, cfg.tracks.cadence_s, truth)
        inj, clean = wt.injected & (ws.y == 1), (ws.y == 0) & ~wt.injected
        if inj.sum() < 2 or clean.sum() < 2:
            print(f"| {split} | (too few injected or clean windows) |")
            continue
        log_amp = np.log10(1 + wt.amplitude[inj])
        for j, name in enumerate(cols):
            m = np.nanmean(ws.X[:, :, j], axis=1)
            gap = m[inj].mean() - m[clean].mean()
            sd = m[clean].std()
            auc = roc_auc_score(np.r_[np.ones(inj.sum()), np.zeros(clean.sum())],
                                np.r_[m[inj], m[clean]])
            slope = np.polyfit(log_amp, m[inj], 1)[0]
            print(f"| {split} | {name} | {int(inj.sum())} | {int(clean.sum())} | {sd:.3f} | "
                  f"{gap:.3f} | {gap / sd:.2f} | {auc:.3f} | {slope:.2f} |")


if __name__ == "__main__":
    main()
