"""Truth ceiling of every dataset's test windows, for the study report (docs/study.md).

The study report (seqnetquake.study) may not read the injection truth; this command computes,
for each window dataset, the oracle's MCC and weighted F1 on its test windows
(``efficiency.ceiling``) and writes them to one JSON file that the report reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqnetquake.benchmark import efficiency as eff
from seqnetquake.benchmark.truth import read_truth, window_truth
from seqnetquake.config import Config
from seqnetquake.fileio import write_json
from seqnetquake.windowset import load_dataset


def dataset_ceilings(cfg: Config, data_dir: Path, datasets: list[str]) -> dict[str, Any]:
    """{dataset: ceiling figures of its test windows} (truth read once per satellite)."""
    truths: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for ds in datasets:
        satellite = cfg.datasets[ds].satellite
        if satellite not in truths:
            truths[satellite] = read_truth(cfg.tracks.raw_dirs[satellite])
        _, test = load_dataset(Path(data_dir) / ds, channels=cfg.windows.features)
        wt = window_truth(test.t0, test.half_orbit_id, test.T, cfg.tracks.cadence_s,
                          truths[satellite])
        out[ds] = eff.ceiling(test.y, wt.injected, test.event_id,
                              n_samples=cfg.benchmark.bootstrap_samples, seed=cfg.benchmark.seed)
    return out


def run_stage(cfg: Config, data_dir: str | Path, out: str | Path) -> dict[str, Any]:
    """Write ``{"data_kind", "datasets": {ds: {ceiling_mcc, ...}}}`` for every dataset."""
    result = {"data_kind": cfg.data_kind,
              "datasets": dataset_ceilings(cfg, Path(data_dir), sorted(cfg.datasets))}
    write_json(result, Path(out))
    return result
