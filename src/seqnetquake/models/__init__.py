"""Models: one table (:data:`MODELS`) of builders and Hyperopt search spaces.

Keys are the names used in params.yaml (``tuning.models``, ``train.baselines``) and on the
command line. Importing this package imports TensorFlow, so the CLI imports it lazily.
"""

from __future__ import annotations

from seqnetquake.models import classical as _classical
from seqnetquake.models import seqnetquake as _seqnetquake
from seqnetquake.models.base import Classifier, FitResult, ModelSpec, load_classifier
from seqnetquake.models.baselines import BASELINES

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (_seqnetquake.SPEC, *BASELINES,
                                                        _classical.SPEC)}


def get_model(name: str) -> ModelSpec:
    """The table entry for ``name``; an unknown name lists the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


__all__ = ["MODELS", "Classifier", "FitResult", "ModelSpec", "get_model", "load_classifier"]
