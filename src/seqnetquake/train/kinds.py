"""Which model, data and folder a training stage uses, and what a kind brings to the run.

The kinds: ``base`` (SeqNetQuake on DEMETER, ``train.base_dataset``), ``direct`` (SeqNetQuake
on CSES, ``train.target_dataset``) and ``baseline`` (one baseline on CSES) train from scratch
with the tuned hyper-parameters (train/scratch.py); ``transfer`` fine-tunes the base model on
CSES (train/transfer.py). Each returns a :class:`Start` for the shared run (train/stage.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from seqnetquake.config import Config
from seqnetquake.windowset import WindowSet

Kind = Literal["base", "transfer", "direct", "baseline"]
KINDS: tuple[str, ...] = ("base", "transfer", "direct", "baseline")
SEQNETQUAKE = "seqnetquake"
MODEL_DIR = "model"  # models/<stage>/model/: the classifier (Classifier.save)


@dataclass(frozen=True)
class StagePlan:
    """Which model, data and output directory one training stage uses."""

    kind: str
    model: str
    dataset: str
    out_dir: Path
    stage_name: str | None = None  # study_train: another stage trains the same kind

    @property
    def stage(self) -> str:
        """The dvc.yaml stage (and MLflow ``stage`` tag) this plan is."""
        if self.stage_name:
            return self.stage_name
        return {"base": "train_base", "baseline": "baselines"}.get(self.kind, self.kind)

    @property
    def run_name(self) -> str:
        """The MLflow run's name."""
        if self.stage_name:
            return f"{self.stage_name}-{self.dataset}-{self.model}"
        return f"baseline-{self.model}" if self.kind == "baseline" else self.stage


def plan(cfg: Config, kind: str, model: str | None, models_dir: Path,
         study: tuple[str, Path] | None = None) -> StagePlan:
    """Resolve a stage; ``model`` is required for ``baseline`` and must be SeqNetQuake else.

    ``study=(dataset, out_dir)``: the study's training of that kind on another dataset.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown training stage {kind!r}; one of {', '.join(KINDS)}")
    if kind == "baseline":
        if not model:
            raise ValueError("train baseline needs --model NAME "
                             f"(one of {', '.join(cfg.train.baselines)})")
        p = StagePlan(kind, model, cfg.train.target_dataset, models_dir / "baselines" / model)
    else:
        if model not in (None, "", SEQNETQUAKE):
            raise ValueError(f"train {kind} trains {SEQNETQUAKE}, not {model!r}")
        dataset = cfg.train.base_dataset if kind == "base" else cfg.train.target_dataset
        p = StagePlan(kind, SEQNETQUAKE, dataset, models_dir / kind)
    if study is not None:
        p = replace(p, dataset=study[0], out_dir=Path(study[1]), stage_name="study_train")
    return p


@dataclass
class Start:
    """What one kind brings to the shared run: its classifier (built or loaded), the
    hyper-parameters, how it fits, and what the MLflow run records of where it came from."""

    clf: Any  # models.Classifier
    hyperparams: dict[str, Any]
    fit: Callable[[WindowSet, WindowSet], Any]  # (fit windows, validation) -> FitResult
    params: dict[str, Any] = field(default_factory=dict)  # the run's params, after the common
    tags: dict[str, str] = field(default_factory=dict)  # the run's tags, after the common
    inputs: list[Path] = field(default_factory=list)  # lineage inputs after train/test.npz
