"""What ``make demo`` prints at the end: which data, how many events and windows, the results.

It only reads the pipeline's reports, so it is cheap and can be run any time after a repro.
"""

from __future__ import annotations

import json
from pathlib import Path

from seqnetquake.config import Config
from seqnetquake.paths import Layout
from seqnetquake.windows import windows_table

# Xiong et al. 2021 (PAPER_NOTES): mainshocks after declustering, M >= 4.8.
PAPER_MAINSHOCKS = {"cses": 2991, "demeter": 8912}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def catalog_table(cfg: Config, reports: Path) -> str:
    counts = _read_json(reports / "catalog.json")
    if not counts:
        return "(no reports/catalog.json yet: run `dvc repro catalog`)"
    lines = [
        f"| satellite | period | mainshocks (M >= {cfg.catalog.min_magnitude:g}) | aftershocks "
        "| artificial | declustering | paper (M >= 4.8) |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for sat, c in counts.items():
        m = cfg.missions[sat]
        method = c.get("declustering", {}).get("method", "paper")
        lines.append(
            f"| {sat.upper()} | {m.start} .. {m.end} | {c['mainshock']} | {c['aftershock']} "
            f"| {c['artificial']} | {method} | {PAPER_MAINSHOCKS[sat]} |"
        )
    return "\n".join(lines)


def render(cfg: Config, root: Path) -> str:
    layout = Layout(root)
    reports = layout.reports_dir
    data = "SIMULATED Ne/Te" if cfg.data_kind == "simulated" else "REAL satellite files"
    parts = [
        f"# seqnetquake results on {data}",
        "Catalogue and Kp are real; orbit geometry is real (CSES TLE, DEMETER elements)."
        if cfg.data_kind == "simulated"
        else "",
        "",
        "## Catalogue",
        catalog_table(cfg, reports),
    ]
    try:
        parts += [
            "",
            "## Windows per class and split",
            windows_table(layout.processed_dir, cfg.datasets),
        ]
    except (OSError, ValueError) as exc:
        parts += ["", f"(windows table unavailable: {exc})"]
    for name, title in (
        ("table1.md", "Table 1: initial training, direct training, transfer learning"),
        ("table2.md", "Table 2: all classifiers on TS1"),
    ):
        path = reports / "tables" / name
        if path.exists():
            parts += ["", f"## {title}", path.read_text().strip()]
    bench = reports / "benchmark.md"  # the benchmark stage's report (docs/benchmark.md)
    if bench.exists():
        body = bench.read_text().split("\n", 1)[-1].strip()
        parts += ["", "## Injection-recovery benchmark (truth ceiling, detection efficiency)", body]
    registry = _read_json(reports / "registry.json")
    if registry:
        parts += ["", "## Registered models", json.dumps(registry, indent=2)]
    return "\n".join(parts)
