"""How often a random draw of a SeqNetQuake search space trains into a constant predictor.

Not a test: prints one line per draw and a summary. A *constant predictor* gives every window
the same class (near the class prior: early stopping on the validation loss keeps an early
epoch because nothing better came within the patience). Draws are seeded random samples
(TPE's first 20 trials are random draws too), trained as a tuning trial is (fit/validation cut
of the training split, early stopping, seed 50), scored on TS1 (the test split).

``--space ours`` is ``MODELS["seqnetquake"].space``; ``--space authors-layers`` is the same with
the authors' layer settings (2-4 filters, relu/tanh/sigmoid, dropout 0.25/0.5/0.75), which was
our space before docs/tuning.md "Constant predictors".

    .venv/bin/python benchmarks/bench_space.py --dataset-dir data/processed/07 --draws 10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from hyperopt import hp
from hyperopt.pyll import stochastic

from seqnetquake.config import load_config
from seqnetquake.metrics import class_metrics
from seqnetquake.models.seqnetquake import ACTIVATIONS, AUTHORS_FILTERS, DROPOUTS
from seqnetquake.models.table import MODELS
from seqnetquake.windowset import fit_validation_split, load_dataset

REPO = Path(__file__).resolve().parents[1]


def space(name: str) -> dict:
    ours = dict(MODELS["seqnetquake"].space)
    if name == "ours":
        return ours
    return {**ours, "cnn_filters": hp.choice("cnn_filters", AUTHORS_FILTERS),
            "cnn_activation": hp.choice("cnn_activation", ACTIVATIONS),
            "fc_activation": hp.choice("fc_activation", ACTIVATIONS),
            "dropout": hp.choice("dropout", DROPOUTS)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset-dir", type=Path, default=REPO / "data/processed/07")
    ap.add_argument("--space", choices=["ours", "authors-layers"], default="ours")
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0, help="seed of the draws")
    args = ap.parse_args()
    cfg = load_config(REPO / "params.yaml")
    train, test = load_dataset(args.dataset_dir)
    fit, val = fit_validation_split(train, cfg)
    rng = np.random.default_rng(args.seed)
    constant, test_mcc = 0, []
    for i in range(args.draws):
        params = stochastic.sample(space(args.space), rng=rng)
        clf = MODELS["seqnetquake"].build(params, train.T, train.F)
        result = clf.fit(fit, val, max_epochs=cfg.tuning.max_epochs,
                         patience=cfg.tuning.patience, seed=cfg.tuning.seed)
        val_pred = clf.predict_proba(val.X).argmax(1)
        val_m = class_metrics(val.y, val_pred)
        proba = clf.predict_proba(test.X)
        test_m = class_metrics(test.y, proba.argmax(1))
        flat = len(np.unique(proba.argmax(1))) == 1 and len(np.unique(val_pred)) == 1
        constant += flat
        test_mcc.append(test_m["mcc"])
        print(f"draw {i}: {result.epochs} epochs, validation F1 {val_m['f1_weighted']:.3f} "
              f"MCC {val_m['mcc']:.3f}, TS1 MCC {test_m['mcc']:.3f}, p1 std "
              f"{proba[:, 1].std():.3f}{' (constant)' if flat else ''}; filters "
              f"{params['cnn_filters']}, {params['cnn_activation']}/{params['fc_activation']}, "
              f"dropout {params['dropout']}", flush=True)
    print(f"{args.space}: {constant} of {args.draws} draws constant; TS1 MCC mean "
          f"{np.mean(test_mcc):.3f}, max {np.max(test_mcc):.3f} ({args.dataset_dir})")


if __name__ == "__main__":
    main()
