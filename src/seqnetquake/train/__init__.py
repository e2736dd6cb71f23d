"""Training stages: DEMETER base, DEMETER -> CSES transfer, CSES direct, and the baselines.

Every stage trains with the tuned hyper-parameters (``models/tuning/<model>/best_params.json``,
from dataset 07's training split), validates on the last ``tuning.validation_fraction`` of its
training split cut chronologically by whole events with a gap (``windowset.fit_validation_split``;
never the test split), and writes ``models/<stage>/``
atomically:

- ``model/``: the classifier (:meth:`Classifier.save`; its scaling inside);
- ``predictions.npz``: test ``proba, y, event_id, t0`` and validation ``proba_val, y_val,
  event_id_val`` (the earthquake-level threshold is chosen on validation);
- ``metrics.json``: ``test_*`` and ``val_*`` metrics, epochs (fit time on the MLflow run);
- ``mlflow.json``: the run and the logged pyfunc model, for the register stage.

Each stage is one MLflow run with the hyper-parameters, metrics, the model (pyfunc), and
lineage tags (git commit, dataset, dvc.lock md5 of its inputs; the base run for transfer).

Modules: ``kinds`` (which model, data and folder per kind), ``scratch`` (base, direct, baseline:
a fresh model of the tuned hyper-parameters), ``transfer`` (the base model fine-tuned),
``stage`` (the run they share).
"""

from __future__ import annotations

from seqnetquake.train.kinds import KINDS, SEQNETQUAKE, Kind, StagePlan, Start, plan
from seqnetquake.train.scratch import read_best_params
from seqnetquake.train.stage import predictions, run_stage, stage_metrics

__all__ = ["KINDS", "SEQNETQUAKE", "Kind", "StagePlan", "Start", "plan", "predictions",
           "read_best_params", "run_stage", "stage_metrics"]
