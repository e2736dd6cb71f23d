"""The same search with ``tuning.backend: local`` and ``spark``: wall time and MLflow runs.

Not a test: prints figures. Runs ``tuning.run_stage`` twice on one dataset (``train.npz`` of
``--dataset``), first with the local backend, then with Spark (``--master``, ``--parallelism``),
each in a fresh experiment of the tracking server named by MLFLOW_TRACKING_URI (start one with
``seqnetquake server``), and checks what the issue asks of the Spark run: N nested runs under
one parent, none left RUNNING.

    seqnetquake server --detach
    MLFLOW_TRACKING_URI=http://127.0.0.1:5001 .venv/bin/python benchmarks/bench_spark_tuning.py \\
        --model seqnetquake --trials 20 --master 'local[2]' --parallelism 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="seqnetquake")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--dataset", type=Path, default=REPO / "data/processed/07")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--backends", nargs="+", default=["local", "spark"],
                        choices=["local", "spark"])
    args = parser.parse_args()
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith("http"):
        raise SystemExit("set MLFLOW_TRACKING_URI to a tracking server (seqnetquake server)")

    import mlflow

    from seqnetquake.config import MlflowConfig, SparkConfig, load_config
    from seqnetquake.tuning import run_stage

    cfg = load_config(REPO / "params.yaml")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    for backend in args.backends:
        experiment = f"bench-{backend}-{stamp}"
        run_cfg = cfg.model_copy(update={
            "mlflow": MlflowConfig(experiment=experiment),
            "tuning": cfg.tuning.model_copy(update={
                "max_evals": args.trials, "backend": backend,
                "spark": SparkConfig(master=args.master, parallelism=args.parallelism)}),
        })
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_stage(run_cfg, args.model, args.dataset, Path(tmp) / "out")
            wall = time.perf_counter() - t0
            summary = json.loads((Path(tmp) / "out" / "search.json").read_text())
        client = mlflow.MlflowClient()
        exp = client.get_experiment_by_name(experiment).experiment_id
        runs = client.search_runs([exp], max_results=10000)
        children = [r for r in runs
                    if r.data.tags.get("mlflow.parentRunId") == summary["parent_run_id"]]
        trial_s = sum(r.data.metrics.get("duration_s", 0.0) for r in children)
        label = "local" if backend == "local" else f"spark {args.master} x{args.parallelism}"
        rows.append({
            "backend": label,
            "wall_s": wall, "trials": summary["n_trials"], "nested_runs": len(children),
            "parents": len({r.data.tags.get("mlflow.parentRunId") for r in children}),
            "running": sum(r.info.status == "RUNNING" for r in runs),
            "sum_trial_s": trial_s, "best_val_f1": summary["best_val_f1_weighted"],
        })
    print(f"\n{args.model}, {args.trials} trials, {args.dataset}, tracking {uri}")
    print("| backend | wall s | trials | nested runs | parents | RUNNING left | "
          "sum of trial s | best val F1 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['wall_s']:.0f} | {r['trials']} | {r['nested_runs']} | "
              f"{r['parents']} | {r['running']} | {r['sum_trial_s']:.0f} | "
              f"{r['best_val_f1']:.4f} |")


if __name__ == "__main__":
    main()
