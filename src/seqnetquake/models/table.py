"""The model table (:data:`MODELS`): one :class:`ModelSpec` per model, and loading a saved one.

Keys are the names used in params.yaml (``tuning.models``, ``train.baselines``) and on the
command line.
"""

from __future__ import annotations

import json
from pathlib import Path

from seqnetquake.models.base import META_FILE, META_VERSION, Classifier, ModelSpec
from seqnetquake.models.baselines import BASELINES
from seqnetquake.models.classical import SPEC as CLASSICAL
from seqnetquake.models.seqnetquake import SPEC as SEQNETQUAKE

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (SEQNETQUAKE, *BASELINES, CLASSICAL)}


def get_model(name: str) -> ModelSpec:
    """The table entry for ``name``; an unknown name lists the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


def load_classifier(directory: Path) -> Classifier:
    """Load a classifier saved by :meth:`Classifier.save`.

    ``classifier.json`` names the model; the table rebuilds its (unfitted) classifier and the
    saved artefact replaces the fresh weights, so a loaded Keras model can be fine-tuned.
    """
    directory = Path(directory)
    meta = json.loads((directory / META_FILE).read_text())
    if meta.get("format_version") != META_VERSION:
        raise ValueError(f"{directory / META_FILE}: unsupported format_version")
    spec = get_model(meta["name"])
    clf = spec.build(meta["hyperparams"], int(meta["T"]), int(meta["F"]))
    if "channels" in meta:  # older saves: the default raw channels
        clf.channels = tuple(meta["channels"])
    clf._restore(directory)
    return clf
