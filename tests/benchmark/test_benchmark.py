"""Injection-recovery benchmark: the truth stays inside benchmark/, the truth join, the oracle
ceiling, detection efficiency and A50, the time-shuffled null, and a small profile of the stage
(tiny windows and a truth table built here)."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.metrics import matthews_corrcoef

from model_fixtures import save_npz
from seqnetquake.benchmark import TRUTH_FILES
from seqnetquake.benchmark import efficiency as eff
from seqnetquake.benchmark.truth import read_truth, window_truth
from seqnetquake.config import BenchmarkConfig
from seqnetquake.contracts import TRUTH_FILE
from seqnetquake.errors import InputError
from seqnetquake.predictions import Predictions
from seqnetquake.windowset import fit_validation_split
from tiny_windows import T, window_set

SRC = Path(__file__).resolve().parents[2] / "src" / "seqnetquake"
TRUTH_NAMES = ("TRUTH_FILE", "TRUTH_EVENTS_FILE")  # contracts' names of the truth files
CADENCE = 1.5


# --------------------------------------------------------------------------- the firewall
def firewall_violations(path: Path, rel: str) -> list[str]:
    """Imports of seqnetquake.benchmark and mentions of the truth file names in one module.

    Allowed: benchmark/ itself; simulate/, which WRITES the truth files (it may name them,
    never import the benchmark); contracts.py, where every shared file name is written down
    (only benchmark/ and simulate/ may take the truth's names from it); cli.py, the
    command-line dispatcher, which may import the benchmark only inside its ``benchmark_*``
    command functions (it trains nothing itself).
    """
    if rel.startswith("benchmark/"):
        return []
    tree = ast.parse(path.read_text(), filename=str(path))
    allowed_import: set[int] = set()
    if rel == "cli.py":
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("benchmark_"):
                allowed_import.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        if any(n == "seqnetquake.benchmark" or n.startswith("seqnetquake.benchmark.")
               for n in names) and id(node) not in allowed_import:
            found.append(f"{rel}:{node.lineno}: imports the benchmark")
        writer = rel.startswith("simulate/")
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and not writer and rel != "contracts.py"
                and any(name in node.value for name in TRUTH_FILES)):
            found.append(f"{rel}:{node.lineno}: names a truth file")
        if not writer and (any(n.rpartition(".")[2] in TRUTH_NAMES for n in names)
                           or isinstance(node, ast.Attribute) and node.attr in TRUTH_NAMES):
            found.append(f"{rel}:{node.lineno}: takes a truth file's name")
    return found


def test_no_module_outside_benchmark_imports_it_or_opens_the_truth():
    violations = []
    for path in sorted(SRC.rglob("*.py")):
        violations += firewall_violations(path, path.relative_to(SRC).as_posix())
    assert violations == []
    assert TRUTH_FILES == ("truth.parquet", "truth_events.parquet")


@pytest.mark.parametrize(("source", "simulator_may"), [
    ("from seqnetquake.benchmark import efficiency\n", False),
    ("import seqnetquake.benchmark.truth as t\n", False),
    ("from seqnetquake import benchmark\n", False),
    ("import pandas as pd\npd.read_parquet('data/raw/cses/truth.parquet')\n", True),
    ("from seqnetquake.contracts import TRUTH_FILE\n", True),
    ("from seqnetquake import contracts\nopen(contracts.TRUTH_EVENTS_FILE)\n", True),
])
def test_firewall_catches_a_training_module_that_peeks(tmp_path, source, simulator_may):
    module = tmp_path / "train.py"
    module.write_text(source)
    assert firewall_violations(module, "train.py")
    # the simulator may name the files it writes, but may not import the benchmark either
    assert bool(firewall_violations(module, "simulate/x.py")) != simulator_may


# --------------------------------------------------------------------------- truth join
def _truth(rows: list[tuple[np.datetime64, int, float]], event: str = "us:1") -> pd.DataFrame:
    return pd.DataFrame({
        "time": pd.to_datetime([r[0] for r in rows], utc=True),
        "half_orbit_id": np.array([r[1] for r in rows], dtype=np.int64),
        "event_id": event, "lat": 0.0, "lon": 0.0,
        "delta_ne_rel": [r[2] for r in rows], "delta_te_rel": 0.0,
    })


def test_window_truth_joins_by_half_orbit_and_span():
    t0 = np.array(["2019-10-01T00:00:00", "2019-10-01T00:01:00", "2019-10-01T00:02:00"],
                  dtype="datetime64[ns]")
    ho = np.array([11, 11, 21])
    s = np.timedelta64(1, "s")
    truth = _truth([
        (t0[0] + 3 * s, 11, 0.1), (t0[0] + 6 * s, 11, 0.3),   # window 0: max 0.3
        (t0[1] + 15 * s, 11, 0.9),                              # = t0 + T x 1.5 s: outside
        (t0[2] + 3 * s, 99, 0.5),                               # other half-orbit: no
    ])
    wt = window_truth(t0, ho, T, CADENCE, truth)
    assert wt.injected.tolist() == [True, False, False]
    assert wt.amplitude.tolist() == [0.3, 0.0, 0.0]
    assert wt.truth_event.tolist() == ["us:1", "", ""]


def test_read_truth_names_the_file_and_field(tmp_path):
    _truth([(np.datetime64("2019-10-01T00:00:00", "ns"), 1, 0.1)]).drop(
        columns="half_orbit_id").to_parquet(tmp_path / TRUTH_FILE)
    with pytest.raises(InputError, match=r"truth\.parquet: half_orbit_id: missing column"):
        read_truth(tmp_path)


# --------------------------------------------------------------------------- figures
def test_oracle_ceiling_by_hand():
    y = np.array([0, 0, 1, 1, 1, 2, 2, 0])
    injected = np.array([False, False, True, False, True, True, False, True])
    oracle = eff.oracle_labels(y, injected)
    assert oracle.tolist() == [0, 0, 1, 0, 1, 2, 2, 1]
    c = eff.ceiling(y, injected, np.array(["a", "a", "b", "b", "c", "d", "d", "e"]),
                    n_samples=200)
    assert c["ceiling_mcc"] == pytest.approx(matthews_corrcoef(y, oracle))
    assert c["ceiling_mcc_ci_low"] <= c["ceiling_mcc"] <= c["ceiling_mcc_ci_high"]
    assert c["class1_injected_share"] == pytest.approx(2 / 3)
    assert c["injected_labelled_0"] == 1


def test_far_threshold_and_a50():
    score = np.linspace(0, 1, 101)
    t = eff.far_threshold(score, np.ones(101, bool), 0.1)
    assert np.mean(score > t) == pytest.approx(0.09, abs=0.011)
    curve = [{"amplitude": a, "recall": r, "n": 10} for a, r in
             [(0.01, 0.1), (0.04, 0.3), (0.16, 0.7), (0.64, 0.9)]]
    # log-linear between 0.04 (0.3) and 0.16 (0.7): halfway in log -> 0.08
    assert eff.a50(curve) == pytest.approx(0.08)
    assert eff.a50([{**r, "recall": 0.2} for r in curve]) is None
    assert eff.a50([{**r, "n": 2} for r in curve]) is None  # too few windows per bin


# --------------------------------------------------------------------------- the null
def test_time_shuffled_null_moves_events_and_the_simulator_undoes_it(cfg):
    from seqnetquake.catalog import SHUFFLE_TAG, time_shuffled
    from seqnetquake.contracts import NS_PER_DAY as DAY_NS
    from seqnetquake.geo import dobrovolsky_radius_km, haversine_km, to_ns
    from seqnetquake.simulate import unshuffle

    rng = np.random.default_rng(0)
    n = 80
    real = pd.DataFrame({
        "event_id": [f"us:{i}" for i in range(n)],
        "time": pd.to_datetime("2019-01-01", utc=True)
        + pd.to_timedelta(np.sort(rng.uniform(0, 500, n)), unit="D"),
        "latitude": rng.uniform(-20, 20, n), "longitude": rng.uniform(100, 140, n),
        "depth_km": 10.0, "magnitude": rng.uniform(5, 7, n), "source": "comcat",
        "kind": "mainshock",
    })
    ccfg = cfg.catalog.model_copy(update={"shuffle": cfg.catalog.shuffle.model_copy(
        update={"mode": "time_shuffled"})})
    c = cfg.model_copy(update={"catalog": ccfg})
    moved, dropped = time_shuffled(real, c.missions["cses"], ccfg, "cses")
    assert len(moved) + dropped == n and len(moved) > n // 2
    assert moved["event_id"].str.contains(SHUFFLE_TAG, regex=False).all()
    back = unshuffle(moved, c, "cses")
    before = real.set_index("event_id").loc[back["event_id"]]
    # the simulator recovers the real ids and times exactly
    np.testing.assert_array_equal(to_ns(back["time"]), to_ns(before["time"]))
    shift_days = np.abs(to_ns(moved["time"]) - to_ns(before["time"])) / DAY_NS
    assert shift_days.min() >= 30
    assert (moved["latitude"].to_numpy() == before["latitude"].to_numpy()).all()
    # outside every real event's window: no real event within 15 days whose Dobrovolsky disk
    # touches the moved event's
    radius = dobrovolsky_radius_km(real["magnitude"].to_numpy())
    for _, ev in moved.iterrows():
        dt = np.abs(to_ns(real["time"]) - to_ns(pd.Series([ev["time"]]))[0])
        d = haversine_km(real["latitude"], real["longitude"], ev["latitude"], ev["longitude"])
        assert not ((dt <= 15 * DAY_NS)
                    & (d < radius + dobrovolsky_radius_km(ev["magnitude"]))).any()
    with pytest.raises(InputError, match="event_id"):
        unshuffle(real, c, "cses")  # a catalogue written without the shuffle


# --------------------------------------------------------------------------- the stage
def _profile(tmp_path: Path, cfg):
    """Dataset 07 of tiny windows, a truth table and three models' predictions."""
    from seqnetquake.windowset import load_dataset

    ds = tmp_path / "data" / "07"
    save_npz(window_set(200, seed=1), ds / "train.npz")
    save_npz(window_set(200, seed=2, start=200), ds / "test.npz")
    train, test = load_dataset(ds)
    _, val = fit_validation_split(train, cfg)  # the cut training makes
    rng = np.random.default_rng(3)
    rows, amp = [], {}
    for name, ws in (("train", train), ("test", test)):
        amp[name] = np.zeros(len(ws))
        hit = np.flatnonzero((ws.y == 1) & (rng.random(len(ws)) < 0.7))
        amp[name][hit] = 10 ** rng.uniform(-2, 0, len(hit))
        for i in hit:
            rows += [(ws.t0[i] + np.timedelta64(k * 1500, "ms"), int(ws.half_orbit_id[i]),
                      amp[name][i] * (0.5 + 0.5 * k / (T - 1))) for k in range(T)]
    raw = tmp_path / "raw"
    raw.mkdir()
    _truth(rows).to_parquet(raw / TRUTH_FILE, index=False)
    val_amp = amp["train"][np.searchsorted(train.t0, val.t0)]  # train.t0 is sorted

    def proba(ws, a, detect: bool):
        p1 = (1 / (1 + np.exp(-4 * (np.log10(np.maximum(a, 1e-3)) + 1))) if detect
              else rng.random(len(ws)))
        p1 = np.where(a > 0, p1, rng.uniform(0, 0.2, len(ws))) if detect else p1
        p = np.stack([1 - p1, p1, np.zeros(len(ws))], axis=1)
        p[ws.y == 2] = [0.05, 0.05, 0.9]
        return p.astype(np.float32)

    models = tmp_path / "models"
    for key, detect in (("transfer", True), ("direct", False), ("baselines/rf", True)):
        out = models / key
        out.mkdir(parents=True)
        Predictions(proba=proba(test, amp["test"], detect), y=test.y, event_id=test.event_id,
                    t0=test.t0, proba_val=proba(val, val_amp, detect), y_val=val.y,
                    event_id_val=val.event_id).save(out / "predictions.npz")
    c = cfg.model_copy(update={
        "tracks": cfg.tracks.model_copy(update={"raw_dirs": {"cses": str(raw)}}),
        "benchmark": cfg.benchmark.model_copy(update={"bootstrap_samples": 200}),
    })
    return c, models, tmp_path / "data", amp["test"], test


def test_benchmark_stage_small_profile(tmp_path, cfg, mlflow_uri):
    import mlflow

    from seqnetquake.benchmark import stage

    c, models, data, amp_test, test = _profile(tmp_path, cfg)
    reports = tmp_path / "reports"
    sweep = reports / "benchmark_sweep.json"
    payload = stage.run_stage(c, models, data, reports, sweep)

    saved = json.loads((reports / "benchmark.json").read_text())
    assert saved == payload
    oracle = eff.oracle_labels(test.y, amp_test > 0)
    assert saved["datasets"]["07"]["ceiling_mcc"] == pytest.approx(
        matthews_corrcoef(test.y, oracle))
    # the models, and the reference fitted to the truth on the target dataset's fit windows
    assert set(saved["models"]) == {"transfer", "direct", "rf", "truth_trained"}
    for m in saved["models"].values():
        assert set(m["scales"]["1"]) == {"mcc", "mcc_ci_low", "mcc_ci_high", "recall_at_far"}
        assert "a50" in m
    details = json.loads((reports / "benchmark_details.json").read_text())["run"]
    assert details["channels"] == ["ne_cm3", "te_k"]
    assert saved["raw_channels"] == {"channels": ["ne_cm3", "te_k"], "models": {}, "paired": {}}
    # the detector finds the strong injections, the blind model only its false-alarm share
    assert details["models"]["transfer"]["recall_at_far"] > 0.6
    assert details["models"]["direct"]["recall_at_far"] < 0.35
    assert saved["models"]["transfer"]["a50"] is not None
    assert 0.01 < saved["models"]["transfer"]["a50"] < 1.0
    assert saved["models"]["direct"]["a50"] is None
    windows = pd.read_parquet(reports / "benchmark" / "windows_07_test.parquet")
    np.testing.assert_allclose(windows["amplitude_ne_rel"], amp_test)
    assert {"p_seismic_transfer", "pred_rf", "oracle", "pred_truth_trained"} <= set(
        windows.columns)
    # the reference predicts by its alarms at the validation false-alarm threshold
    ref = details["models"]["truth_trained"]
    np.testing.assert_array_equal(windows["pred_truth_trained"],
                                  (windows["p_seismic_truth_trained"] > ref["threshold"]))
    assert (reports / "plots" / "benchmark" / "efficiency.png").stat().st_size > 0
    md = (reports / "benchmark.md").read_text()
    assert "Simulated data" in md and "| model | MCC [CI] | ceiling | ratio |" in md
    assert md.index("| RF |") < md.index("| Truth-trained reference |")  # the last row

    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 1
    assert runs[0].data.tags["controls"] == "none"
    assert runs[0].data.tags["amplitude_scale"] == "1"
    assert runs[0].data.tags["data_kind"] == "simulated"

    # a collected sweep folds scales and twins in (the schema the README table reads)
    twin = json.loads(json.dumps(details))
    twin["amplitude_scale"], twin["controls"] = 0.0, "zero_amplitude"
    located = json.loads(json.dumps(details))
    located["controls"] = "location_matched"
    for m in located["models"].values():
        m["mcc"], m["event_level"] = 0.0, {"test_eqa_mcc": 0.05}
    sweep.write_text(json.dumps({"variants": {"bench-scale-0": {"run": twin},
                                              "bench-location-matched": {"run": located}}}))
    (models / "transfer" / "metrics.json").write_text(json.dumps({"test_eqa_mcc": 0.3,
                                                                  "test_eqa_threshold": 0.9}))
    merged = stage.run_stage(c, models, data, reports, sweep, log_mlflow=False)
    flagged = json.loads((reports / "benchmark_details.json").read_text())["flags"]
    assert any("SeqNetQuake-TL: event-level test_eqa_mcc 0.300 not reproduced" in f
               for f in flagged)
    assert not any("threshold" in f for f in flagged)
    assert not any(f.startswith("Truth-trained") for f in flagged)  # no model's control
    tl_mcc = details["models"]["transfer"]["mcc"]
    assert any("SeqNetQuake-TL: zero_amplitude twin" in f for f in flagged) == (
        abs(tl_mcc) > 0.05)
    assert merged["twins"]["location_matched"]["transfer"]["mcc"] == 0.0
    assert set(merged["models"]["transfer"]["scales"]) == {"0", "1"}
    assert set(merged["twins"]["zero_amplitude"]["rf"]) == {"mcc", "mcc_ci_low", "mcc_ci_high"}
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{stage.README_START}\nold\n{stage.README_END}\nrest\n")
    stage.update_readme(readme, reports)
    text = readme.read_text()
    assert "old" not in text and text.endswith("rest\n") and "SeqNetQuake-TL" in text
    assert "**Goals (SeqNetQuake).**" in text  # the goals follow the table, as a lead-in


def test_predictions_of_other_windows_are_refused(tmp_path, cfg, mlflow_uri):
    from seqnetquake.benchmark import stage

    c, models, data, _, _ = _profile(tmp_path, cfg)
    pred = Predictions.load(models / "direct" / "predictions.npz")
    Predictions(**{**pred.__dict__, "t0": pred.t0 + np.timedelta64(1, "s")}).save(
        models / "direct" / "predictions.npz")
    with pytest.raises(InputError, match=r"direct/predictions\.npz: t0: "):
        stage.run_stage(c, models, data, tmp_path / "reports", None, log_mlflow=False)


def test_sweep_commands_and_collect_from_experiment_refs(tmp_path, cfg, mlflow_uri, monkeypatch):
    """The queue targets the benchmark stage; collect reads each experiment's details from its
    git ref (as ``dvc exp run`` leaves them), times its stages from MLflow, and logs a parent
    run with one nested run per variant."""
    import subprocess

    import mlflow

    from seqnetquake.benchmark import sweep

    cmds = sweep.queue_commands(cfg)  # cfg is on raw channels: no bench-raw-* variants
    assert [c[5] for c in cmds if "-raw-" in c[5] or "-resid-" in c[5]] == [
        "bench-resid-scale-1", "bench-resid-scale-4"]
    assert len(cmds) == 8 and all(c[:4] == ["dvc", "exp", "run", "--queue"] for c in cmds)
    assert all(c[-1] == "benchmark" for c in cmds)
    assert cmds[0][6:8] == ["-S", "simulate.precursor.amplitude_scale=0.0"]
    assert any("catalog.shuffle.mode=time_shuffled" in c for c in cmds)
    assert any("catalog.artificial.mode=location_matched" in c for c in cmds)

    monkeypatch.chdir(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "reports").mkdir()
    run = {"amplitude_scale": 0.0, "controls": "zero_amplitude", "far": 0.1,
           "datasets": {"07": {"ceiling_mcc": 0.0}},
           "models": {"rf": {"mcc": 0.01, "mcc_ci_low": -0.1, "mcc_ci_high": 0.1,
                             "recall_at_far": 0.1, "far_test": 0.1, "a50": None}}}
    (tmp_path / sweep.DETAILS).write_text(json.dumps({"run": run}))
    table = tmp_path / sweep.WINDOWS / "windows_07_test.parquet"
    table.parent.mkdir()
    windows = pd.DataFrame({"t0": pd.to_datetime(["2019-01-01", "2019-01-02"]),
                            "half_orbit_id": [1, 2], "event_id": [5, 6], "y": [0, 1],
                            "pred_rf": [0, 0]})
    windows.to_parquet(table, index=False)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "exp"], check=True)
    subprocess.run(["git", "update-ref", "refs/exps/ab/cdef/bench-scale-0", "HEAD"], check=True)
    from seqnetquake import tracking

    tracking.configure(cfg)  # this test's store (MLflow keeps the last experiment globally)
    with mlflow.start_run(run_name="simulate-cses"):
        mlflow.set_tags({"stage": "simulate", "dvc_exp_name": "bench-scale-0"})
    collected = sweep.collect(cfg, out=tmp_path / "sweep.json")
    # details without channels (written before runs recorded them) get the variant's channels
    expected = {**run, "channels": list(cfg.windows.features)}
    assert collected["variants"]["bench-scale-0"]["run"] == expected
    assert "simulate" in collected["variants"]["bench-scale-0"]["seconds"]
    assert "bench-time-shuffled" in collected["missing"]
    # the variant's test windows are copied beside the sweep file, pinned by their md5
    copied = tmp_path / "sweep" / "bench-scale-0" / "windows_07_test.parquet"
    assert copied.read_bytes() == table.read_bytes()
    assert collected["variants"]["bench-scale-0"]["window_tables"] == {
        "windows_07_test.parquet": hashlib.md5(table.read_bytes()).hexdigest()}
    from seqnetquake.benchmark import stage

    loaded = stage.read_sweep(tmp_path / "sweep.json")["variants"]["bench-scale-0"]["run"]
    pd.testing.assert_frame_equal(loaded["_windows"]["07"], windows)
    # re-running some variants keeps the others' entries and tables
    subprocess.run(["git", "update-ref", "refs/exps/ab/cdef/bench-scale-2", "HEAD"], check=True)
    again = sweep.collect(cfg, out=tmp_path / "sweep.json", log_mlflow=False,
                          only=["bench-scale-2"])
    assert again["variants"]["bench-scale-0"] == collected["variants"]["bench-scale-0"]
    assert set(again["variants"]) == {"bench-scale-0", "bench-scale-2"}
    assert not {"bench-scale-0", "bench-scale-2"} & set(again["missing"])
    assert copied.read_bytes() == table.read_bytes()
    assert (tmp_path / "sweep" / "bench-scale-2" / "windows_07_test.parquet").is_file()
    assert [c[5] for c in sweep.queue_commands(cfg, ["bench-scale-2"])] == ["bench-scale-2"]
    # collected tables git does not track yet travel into each queued experiment; tracked
    # ones are there already (copying them again would fail)
    new = tmp_path / "reports" / "benchmark_sweep" / "bench-scale-2"
    new.mkdir(parents=True)
    (new / "windows_07_test.parquet").write_bytes(b"x")
    assert sweep.queue_commands(cfg, ["bench-scale-2"])[0][-3:] == [
        "-C", "reports/benchmark_sweep", "benchmark"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "tables"], check=True)
    (tmp_path / "reports" / "benchmark_sweep" / "bench-scale-0").mkdir()
    (tmp_path / "reports" / "benchmark_sweep" / "bench-scale-0" / "t.parquet").write_bytes(b"y")
    (new / "windows_11_test.parquet").write_bytes(b"z")
    assert sweep.queue_commands(cfg, ["bench-scale-2"])[0][6:] == [
        "-S", "simulate.precursor.amplitude_scale=2.0",
        "-C", "reports/benchmark_sweep/bench-scale-0",
        "-C", "reports/benchmark_sweep/bench-scale-2/windows_11_test.parquet", "benchmark"]
    with pytest.raises(ValueError, match="unknown sweep variant"):
        sweep.collect(cfg, out=tmp_path / "sweep.json", only=["bench-scale-3"])
    copied.write_bytes(copied.read_bytes()[:-8])  # truncated after collect
    with pytest.raises(InputError, match=r"bench-scale-0/windows_07_test\.parquet: md5: "):
        stage.read_sweep(tmp_path / "sweep.json")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    parent = [r for r in runs if r.info.run_name == "benchmark-sweep"]
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent[0].info.run_id]
    assert len(parent) == 1 and len(nested) == 1
    assert nested[0].data.tags["controls"] == "zero_amplitude"
    assert nested[0].data.tags["amplitude_scale"] == "0"
    assert nested[0].data.metrics["rf.mcc"] == pytest.approx(0.01)


# --------------------------------------------------------------------------- raw channels
def test_channel_set_variants_and_their_queue_commands(cfg, tmp_path, monkeypatch):
    """One experiment per benchmark.channel_sets entry and channel_scales value; the list
    override is in Hydra's grammar, which DVC's ``-S`` applies to params.yaml."""
    import yaml
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import apply_overrides

    from seqnetquake.benchmark import sweep

    c = cfg.model_copy(update={"windows": cfg.windows.model_copy(
        update={"features": ["ne_z", "te_z"]})})
    assert c.benchmark.channel_scales == [1.0, 4.0]
    assert c.benchmark.channel_sets == {"raw": ["ne_cm3", "te_k"],
                                        "resid": ["ne_resid", "te_resid"]}
    assert BenchmarkConfig().channel_sets == {"raw": ["ne_cm3", "te_k"]}
    assert c.simulate.precursor.amplitude_scale == 1.0
    found = sweep.variants(c)
    assert found["bench-raw-scale-1"] == {"windows.features": ["ne_cm3", "te_k"]}  # this scale
    assert found["bench-raw-scale-4"] == {"windows.features": ["ne_cm3", "te_k"],
                                          "simulate.precursor.amplitude_scale": 4.0}
    assert found["bench-scale-4"] == {"simulate.precursor.amplitude_scale": 4.0}
    assert found["bench-resid-scale-1"] == {"windows.features": ["ne_resid", "te_resid"]}
    monkeypatch.chdir(tmp_path)  # no collected tables here: no -C
    cmds = {cmd[5]: cmd for cmd in sweep.queue_commands(c)}
    assert cmds["bench-raw-scale-4"] == [
        "dvc", "exp", "run", "--queue", "-n", "bench-raw-scale-4",
        "-S", "windows.features=[ne_cm3,te_k]",
        "-S", "simulate.precursor.amplitude_scale=4.0", "benchmark"]
    params = tmp_path / "params.yaml"
    params.write_text("windows:\n  features: [ne_z, te_z]\nsimulate:\n  precursor:\n"
                      "    amplitude_scale: 1.0\n")
    cmd = cmds["bench-raw-scale-4"]
    sets = [cmd[i + 1] for i, word in enumerate(cmd) if word == "-S"]
    apply_overrides(params, to_path_overrides(sets)["params.yaml"])
    assert yaml.safe_load(params.read_text()) == {
        "windows": {"features": ["ne_cm3", "te_k"]},
        "simulate": {"precursor": {"amplitude_scale": 4.0}}}
    # other scales keep their '.'-> 'p' names; a run already on a set's channels adds none
    half = c.model_copy(update={"benchmark": c.benchmark.model_copy(
        update={"channel_scales": [0.5]})})
    assert "bench-raw-scale-0p5" in sweep.variants(half)
    raw = c.model_copy(update={"windows": c.windows.model_copy(
        update={"features": ["ne_cm3", "te_k"]})})
    assert not any(n.startswith("bench-raw-") for n in sweep.variants(raw))
    assert "bench-resid-scale-4" in sweep.variants(raw)
    resid = c.model_copy(update={"windows": c.windows.model_copy(
        update={"features": ["ne_resid", "te_resid"]})})
    assert not any(n.startswith("bench-resid-") for n in sweep.variants(resid))
    with pytest.raises(ValidationError, match="bench-<set>-scale"):
        BenchmarkConfig(channel_sets={"de-tr": ["ne_detr"]})
    with pytest.raises(ValidationError, match="ne_ratio"):
        BenchmarkConfig(channel_sets={"x": ["ne_ratio"]})


def _fake_run(scale: float, controls: str = "none", channels: list[str] | None = None,
              mcc: float = 0.2, recall: float = 0.5) -> dict:
    """One run of benchmark_details.json, as much as summarise reads."""
    curve = [{"bin_low": a / 2, "bin_high": a * 2, "amplitude": a, "n": 20,
              "hits": round(20 * min(1.0, recall * a / 0.04))}
             for a in (0.01, 0.04, 0.16, 0.64)]
    model = {"mcc": mcc, "mcc_ci_low": mcc - 0.1, "mcc_ci_high": mcc + 0.1,
             "recall_at_far": recall, "curve": curve}
    run = {"amplitude_scale": scale, "controls": controls, "far": 0.1,
           "datasets": {"07": dict.fromkeys((
               "ceiling_mcc", "ceiling_mcc_ci_low", "ceiling_mcc_ci_high", "ceiling_f1_weighted",
               "ceiling_f1_weighted_ci_low", "ceiling_f1_weighted_ci_high",
               "ceiling_mcc_binary", "class1_injected_share"), 0.5)},
           "models": {"transfer": dict(model), "direct": dict(model)}}
    if channels is not None:
        run["channels"] = channels
    return run


def test_raw_channel_variants_are_reported_apart_from_the_sweep():
    from seqnetquake.benchmark import stage

    run = _fake_run(1.0, channels=["ne_z", "te_z"], mcc=0.3, recall=0.6)
    raw, detr = ["ne_cm3", "te_k"], ["ne_detr", "te_detr"]
    sweep = {"variants": {
        "bench-scale-4": {"run": _fake_run(4.0, mcc=0.5, recall=0.9)},  # no channels: default
        "bench-scale-0": {"run": _fake_run(0.0, "zero_amplitude", ["ne_z", "te_z"], mcc=0.01)},
        "bench-raw-scale-1": {"run": _fake_run(1.0, channels=raw, mcc=-0.02, recall=0.1)},
        "bench-raw-scale-4": {"run": _fake_run(4.0, channels=raw, mcc=0.03, recall=0.2)},
        "bench-raw-scale-0": {"run": _fake_run(0.0, "zero_amplitude", raw, mcc=0.4)},
        "bench-detr-scale-4": {"run": _fake_run(4.0, channels=detr, mcc=0.45, recall=0.7)},
    }}
    without = stage.summarise(run, {"variants": {
        k: v for k, v in sweep["variants"].items() if not k.startswith(("bench-raw",
                                                                         "bench-detr"))}})
    summary = stage.summarise(run, sweep)
    # the residual sweep, A50 and the twins are what they are without the raw variants
    for key in ("models", "twins", "ceiling_by_scale", "datasets"):
        assert summary[key] == without[key]
    assert summary["models"]["transfer"]["a50"] is not None  # pooled over 0, 1, 4 residual
    tl = summary["models"]["transfer"]["scales"]
    assert set(tl) == {"0", "1", "4"} and tl["1"]["mcc"] == 0.3 and tl["4"]["mcc"] == 0.5
    assert set(summary["twins"]) == {"zero_amplitude"}
    assert summary["twins"]["zero_amplitude"]["transfer"]["mcc"] == 0.01
    assert summary["raw_channels"]["channels"] == raw
    raw_tl = summary["raw_channels"]["models"]["transfer"]["scales"]
    assert list(raw_tl) == ["0", "1", "4"]
    assert raw_tl["1"] == pytest.approx({"mcc": -0.02, "mcc_ci_low": -0.12,
                                         "mcc_ci_high": 0.08, "recall_at_far": 0.1})
    assert without["raw_channels"] == {"channels": raw, "models": {}, "paired": {}}
    assert summary["raw_channels"]["paired"] == {}  # no window tables collected
    (other,) = summary["other_channels"]
    assert other["channels"] == detr and other["paired"] == {}
    assert other["models"]["transfer"]["scales"]["4"]["mcc"] == 0.45
    assert without["other_channels"] == []
    assert not any("0.400" in f for f in stage.flags(summary, run, sweep))  # not a twin

    lines = stage.channels_section(summary, run)
    assert "## Raw channels (the paper's input) vs residual channels" in lines
    assert ("| model | scale | channels | MCC [CI] | recall@FAR | Δ MCC vs raw [CI], paired | "
            "P(Δ > 0) |") in lines
    rows = [line for line in lines if line.startswith("| SeqNetQuake-TL |")]
    # per raw scale: the raw row, this run's channels, the detr set where it ran (scale 4)
    assert [r.split(" | ")[1:3] for r in rows] == [
        ["0", "ne_cm3, te_k"], ["0", "ne_z, te_z"], ["1", "ne_cm3, te_k"], ["1", "ne_z, te_z"],
        ["4", "ne_cm3, te_k"], ["4", "ne_z, te_z"], ["4", "ne_detr, te_detr"]]
    assert rows[2].endswith("| 0.10 | | |") and rows[3].endswith("| 0.60 | n/a | n/a |")
    assert "| 0.45 [0.35, 0.55] | 0.70 |" in rows[6]
    assert any(line.startswith("Paired differences n/a") for line in lines)
    assert stage.channels_section(without, run) == []
    # a run already on raw channels keeps every variant in its own sweep
    on_raw = stage.summarise({**run, "channels": raw}, sweep)
    assert on_raw["raw_channels"]["models"] == {}


def _fake_windows(y: np.ndarray, preds: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    """A run's test-window table of dataset 07: 10 windows per event."""
    n = len(y)
    return {"07": pd.DataFrame({
        "t0": pd.date_range("2019-01-01", periods=n, freq="h"), "half_orbit_id": np.arange(n),
        "event_id": np.arange(n) // 10, "y": y, **{f"pred_{k}": v for k, v in preds.items()}})}


def test_residual_and_raw_runs_are_compared_on_the_same_windows():
    """With both runs' test windows, the difference is paired: the same events resampled."""
    from seqnetquake.benchmark import stage

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    noisy = np.where(rng.random(400) < 0.3, 1 - y, y)  # right on 70 % of windows
    blind = rng.integers(0, 2, 400)
    raw = ["ne_cm3", "te_k"]
    run = _fake_run(1.0, channels=["ne_z", "te_z"])
    run["_windows"] = _fake_windows(y, {"transfer": noisy, "direct": blind})
    raw_run = _fake_run(1.0, channels=raw)
    raw_run["_windows"] = _fake_windows(y, {"transfer": blind, "direct": blind})
    raw_4 = _fake_run(4.0, channels=raw)  # no residual run at scale 4 in this sweep
    raw_4["_windows"] = raw_run["_windows"]
    detr = _fake_run(1.0, channels=["ne_detr", "te_detr"])
    detr["_windows"] = _fake_windows(y, {"transfer": blind, "direct": y})
    sweep = {"variants": {"bench-raw-scale-1": {"run": raw_run},
                          "bench-raw-scale-4": {"run": raw_4},
                          "bench-detr-scale-1": {"run": detr}}}
    paired = stage.summarise(run, sweep, n_samples=300, seed=1)["raw_channels"]["paired"]
    assert set(paired) == {"transfer", "direct"} and set(paired["transfer"]) == {"1"}
    tl = paired["transfer"]["1"]
    assert tl["n_windows"] == 400 and tl["n_events"] == 40
    assert tl["mcc_diff_ci_low"] > 0.2 and tl["share_above_0"] == 1.0
    assert paired["direct"]["1"]["mcc_diff"] == 0.0  # the same predictions
    summary = stage.summarise(run, sweep, n_samples=300, seed=1)
    rows = [line for line in stage.channels_section(summary, run)
            if line.startswith("| SeqNetQuake-TL | 1 | ne_z")]
    assert rows and rows[0].endswith("| 1.00 |")
    # another channel set is paired with raw too: detr minus raw
    other = summary["other_channels"][0]["paired"]
    assert other["transfer"]["1"]["mcc_diff"] == 0.0
    assert other["direct"]["1"]["mcc_diff_ci_low"] > 0.5  # perfect vs blind
    # windows the two runs label differently are not the same catalogue: refused
    relabelled = _fake_run(1.0, channels=raw)
    relabelled["_windows"] = _fake_windows(1 - y, {"transfer": blind})
    with pytest.raises(ValueError, match="dataset 07: the same test window has different"):
        stage.summarise(run, {"variants": {"bench-raw-scale-1": {"run": relabelled}}})


def test_goals_section_says_which_goal_each_headline_model_meets():
    from seqnetquake.benchmark import stage

    def fig(mcc, recall=None):
        return {"mcc": mcc, "mcc_ci_low": mcc - 0.1, "mcc_ci_high": mcc + 0.1,
                "recall_at_far": recall}

    summary = {
        "ceiling_by_scale": {"07": {"1": 0.45, "4": 0.5}},
        "models": {"transfer": {"scales": {"1": fig(0.1, 0.55), "4": fig(0.35)}},
                   "direct": {"scales": {"1": fig(0.1, 0.2), "4": fig(0.2)}},
                   "lstm": {"scales": {"4": fig(0.3)}},
                   # a reference, no rival: a line of context under the table
                   "truth_trained": {"scales": {"1": fig(0.1, 0.3), "4": fig(0.45)}}},
        "twins": {"zero_amplitude": {"transfer": fig(0.02), "direct": fig(-0.08)}},
        "raw_channels": {"paired": {"transfer": {"4": {"mcc_diff_ci_low": 0.05}}}},
    }
    run = {"far": 0.1, "models": {k: {"dataset": "07"} for k in ("transfer", "direct",
                                                                  "truth_trained")}}
    lines = stage.goals_section(summary, run)
    assert lines[-1].endswith("at x1 0.30, x4 MCC / truth ceiling 0.90.")
    rows = {line.split(" | ")[0].removeprefix("| "): line.split(" | ")[1:]
            for line in lines if line.startswith("| ") and "---" not in line}
    recall, share, above, twin, raw1, raw4 = (v for k, v in rows.items() if k != "goal")
    assert recall == ["0.55 yes", "0.20 no |"]
    assert share == ["0.70 yes", "0.40 no |"]  # 0.35 / 0.5 against 0.6 of the ceiling
    assert above == ["0.05 yes", "-0.10 no |"]  # against the LSTM's 0.3
    assert twin == ["0.02 yes", "-0.08 no |"]
    assert raw1 == ["n/a", "n/a |"] and raw4 == ["0.05 yes", "n/a |"]
    assert stage.goals_section({**summary, "models": {"lstm": {}}}, run) == []
