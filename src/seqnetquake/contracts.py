"""The facts every stage shares: table schemas, id prefixes, output file names, time units.

They live here, below every stage, so that stages agree on a table by importing this module
rather than each other (docs/architecture.md draws the layers). A schema is an ordered
``column -> dtype`` mapping; ``*_COLUMNS`` is its column order, the order files are written in.
"""

from __future__ import annotations

from types import MappingProxyType

# --- time units (int64 nanoseconds since 1970, UTC, throughout) -------------------------------
NS_PER_S = 1_000_000_000
NS_PER_H = 3600 * NS_PER_S
NS_PER_DAY = 86_400 * NS_PER_S
UTC_NS = "datetime64[ns, UTC]"

# --- event ids ----------------------------------------------------------------------------------
# Real events: ``<source>:<id>``; artificial ones: ``art-<satellite>-NNNNN`` (catalog stage).
ARTIFICIAL_ID_PREFIX = "art-"


def artificial_id_prefix(satellite: str) -> str:
    """The id prefix of one satellite's artificial events (``art-cses-``)."""
    return f"{ARTIFICIAL_ID_PREFIX}{satellite}-"


# --- tables -------------------------------------------------------------------------------------
CATALOG_SCHEMA = MappingProxyType({
    "event_id": "str", "time": UTC_NS, "latitude": "float64", "longitude": "float64",
    "depth_km": "float64", "magnitude": "float64", "source": "str", "kind": "str",
})
CATALOG_COLUMNS = tuple(CATALOG_SCHEMA)
EVENT_KINDS = ("mainshock", "aftershock", "artificial")
# The catalogue columns an event is made of where it is read (labeller, simulator).
CATALOG_EVENT_COLUMNS = ("event_id", "time", "latitude", "longitude", "magnitude", "kind")

KP_COLUMNS = ("start", "end", "kp")

TRACK_SCHEMA = MappingProxyType({
    "time": UTC_NS, "lat": "float64", "lon": "float64", "alt": "float64", "mlat": "float64",
    "local_time": "float64", "half_orbit": "str", "orbit": "int64", "half_orbit_id": "int64",
    "segment": "int64", "ne_cm3": "float64", "te_k": "float64", "kp": "float64",
    "quality": "int16",
})
TRACK_COLUMNS = tuple(TRACK_SCHEMA)
# The track columns windowing needs besides the channels.
WINDOWING_COLUMNS = ("time", "lat", "lon", "half_orbit", "half_orbit_id", "segment", "kp",
                     "quality")
# The track columns the quiet-time background needs.
BACKGROUND_INPUT_COLUMNS = ("time", "lat", "lon", "half_orbit", "half_orbit_id", "ne_cm3",
                            "te_k", "kp", "quality")
BACKGROUND_SCHEMA = MappingProxyType({
    "time": UTC_NS, "half_orbit_id": "int64", "ne_ref": "float64", "ne_mad": "float64",
    "te_ref": "float64", "te_mad": "float64", "ref_count": "int64", "ref_level": "int8",
})
BACKGROUND_COLUMNS = tuple(BACKGROUND_SCHEMA)

# ``{train,test}.npz`` arrays: the fields of windowset.WindowSet, which load_windows checks.
# Class probabilities, in class order 0, 1, 2 (scoring output, serving).
PROBA_COLUMNS = ("p_non_seismic", "p_seismic", "p_storm")

# The simulator's injection truth (read by the benchmark only).
TRUTH_SCHEMA = MappingProxyType({
    "time": UTC_NS, "half_orbit_id": "int64", "event_id": "str", "lat": "float64",
    "lon": "float64", "delta_ne_rel": "float64", "delta_te_rel": "float64",
})
TRUTH_COLUMNS = tuple(TRUTH_SCHEMA)
TRUTH_EVENT_COLUMNS = (
    "event_id", "time", "latitude", "longitude", "magnitude", "injected", "amplitude_ne_rel",
    "amplitude_te_rel", "lead_days", "start", "end", "footprint_km", "shift_deg", "centre_lat",
    "centre_lon",
)

# --- file names ---------------------------------------------------------------------------------
TRUTH_FILE = "truth.parquet"
TRUTH_EVENTS_FILE = "truth_events.parquet"
TRAIN_WINDOWS_FILE = "train.npz"
TEST_WINDOWS_FILE = "test.npz"
MANIFEST_FILE = "manifest.json"
PREDICTIONS_FILE = "predictions.npz"

# --- window labels ------------------------------------------------------------------------------
# ``y`` of the windows, the class order of every probability array (PROBA_COLUMNS).
CLASS_NAMES = ("non-seismic", "seismic", "storm")  # labels 0, 1, 2
N_CLASSES = len(CLASS_NAMES)

# --- files between the model stages ------------------------------------------------------------
BEST_PARAMS_FILE = "best_params.json"  # models/tuning/<model>/: the tune stage -> training
STAGE_METRICS_FILE = "metrics.json"  # models/<stage>/: a training stage's test_*/val_* metrics
RUN_RECORD_FILE = "mlflow.json"  # models/<stage>/: its MLflow run and logged model
