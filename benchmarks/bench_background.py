"""Throughput of the background stage (causal quiet-time reference) in track samples/s.

Not a test: prints figures. A simulated month of CSES-like track (benchmarks/bench_windows.py's
synthetic sun-synchronous track: 1.5 s cadence, |lat| <= 65 deg, gaps, Kp in thirds, bad
records) goes through ``background.background_frame`` with the params' background section;
then, where it exists, the real ``data/interim/tracks_cses.parquet``.

    nice .venv/bin/python benchmarks/bench_background.py [--days 30] [--repeat 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_windows import synthetic_track  # noqa: E402
from seqnetquake import background as bg  # noqa: E402
from seqnetquake.config import load_config  # noqa: E402
from seqnetquake.contracts import BACKGROUND_INPUT_COLUMNS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def run(tracks: pd.DataFrame, cfg, label: str, repeat: int) -> None:
    best = float("inf")
    for _ in range(repeat):
        clock = time.perf_counter()
        frame = bg.background_frame(tracks, cfg.background)
        best = min(best, time.perf_counter() - clock)
    stats = bg.summary(frame, cfg.background, best)
    print(f"{label}: {len(tracks) / 1e6:.2f} M samples in {best:.2f} s = "
          f"{len(tracks) / best:,.0f} samples/s; coverage {stats['coverage_share']:.3f}; "
          f"levels {[stats[f'samples_level_{k}'] for k in range(-1, 3)]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    cfg = load_config(REPO / "params.yaml")
    run(synthetic_track(args.days), cfg, f"simulated {args.days:g} days", args.repeat)
    real = REPO / "data/interim/tracks_cses.parquet"
    if real.exists():
        run(pd.read_parquet(real, columns=list(BACKGROUND_INPUT_COLUMNS)), cfg, str(real), 1)


if __name__ == "__main__":
    main()
