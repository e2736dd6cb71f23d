"""Models: one table (:data:`MODELS`, models/table.py) of builders and Hyperopt search spaces.

Keys are the names used in params.yaml (``tuning.models``, ``train.baselines``) and on the
command line. Importing this package imports TensorFlow, so the CLI imports it lazily.
"""

from __future__ import annotations

from seqnetquake.models.base import Classifier, FitResult, ModelSpec
from seqnetquake.models.table import MODELS, get_model, load_classifier

__all__ = ["MODELS", "Classifier", "FitResult", "ModelSpec", "get_model", "load_classifier"]
